package io.viva.server;

import io.viva.platform.Actor;
import io.viva.platform.Role;
import io.viva.platform.StorageUnavailableException;
import io.viva.server.admin.AdminAuth;
import io.viva.server.admin.AuditSink;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.RejectedExecutionException;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Full mode's admin tokens with roles in front of {@code /admin/*} and the dashboard: the same
 * check as {@code /api/v1/*} ({@link FullMode#authenticate}: the bootstrap {@code ADMIN_TOKEN} or a
 * {@code viva_admin_} token from the database). Reads need {@code viewer}; changes (reset,
 * replacing the policies) need {@code operator}, as changing keys does. The lookup may touch the
 * database, so it runs on full mode's blocking pool.
 */
final class PlatformAdminAuth implements AdminAuth {

  private final FullMode full;

  PlatformAdminAuth(FullMode full) {
    this.full = full;
  }

  /** The role an action needs. */
  static Role required(Action action) {
    return action == Action.READ ? Role.VIEWER : Role.OPERATOR;
  }

  @Override
  public Result authorize(String header, Action action) {
    FullMode.Principal p;
    try {
      p = full.authenticate(header);
    } catch (StorageUnavailableException e) {
      full.databaseFailed();
      return new Denied(503, "database_unavailable", "the admin token database is unreachable (retry later)", null);
    }
    if (p == null) {
      return new Denied(401, "unauthorized", "Authorization: missing or unknown token (expected: Bearer <admin"
          + " token>)", "Bearer realm=\"viva\"");
    }
    Role needed = required(action);
    if (!p.role().atLeast(needed)) {
      if (action == Action.WRITE) {
        // As /api/v1/* does: a refused change is audited (no target: the admin view's own record has it).
        try {
          full.store.audit(new Actor(p.actor(), null), "admin.write", null, "denied", "role " + p.role().label());
        } catch (StorageUnavailableException e) {
          full.databaseFailed();
        }
      }
      return new Denied(403, "forbidden", "role: " + p.role().label() + " (expected: " + needed.label()
          + " or above)", null);
    }
    return new Granted(p.actor());
  }

  @Override
  public CompletionStage<Result> authorizeAsync(String header, Action action) {
    try {
      return CompletableFuture.supplyAsync(() -> authorize(header, action), full.blocking);
    } catch (RejectedExecutionException e) {
      return CompletableFuture.completedFuture(new Denied(503, "unavailable", "the server is shutting down", null));
    }
  }

  /**
   * Full mode's audit log as the admin API's {@link AuditSink}: each event becomes an entry of
   * {@code GET /api/v1/audit} (written on the blocking pool), and is logged as in standalone mode.
   */
  static final class Sink implements AuditSink {

    private static final Logger LOG = LoggerFactory.getLogger(Sink.class);
    private final FullMode full;

    Sink(FullMode full) {
      this.full = full;
    }

    @Override
    public void record(Event e) {
      AuditSink.log().record(e);
      String result = String.valueOf(e.details().getOrDefault("result", "ok"));
      String detail = e.details().entrySet().stream().filter(x -> !x.getKey().equals("result"))
          .map(x -> x.getKey() + "=" + x.getValue()).collect(Collectors.joining(" "));
      try {
        full.blocking.execute(() -> {
          try {
            full.store.audit(new Actor(e.principal(), e.sourceIp()), e.action(), e.target(),
                result.equals("ok") ? "success" : result, detail);
          } catch (StorageUnavailableException ex) {
            full.databaseFailed();
            LOG.warn("audit entry {} on {} not written to the database (unreachable); it is in the log",
                e.action(), e.target());
          }
        });
      } catch (RejectedExecutionException ex) {
        LOG.warn("audit entry {} on {} not written to the database (shutting down); it is in the log", e.action(),
            e.target());
      }
    }
  }
}
