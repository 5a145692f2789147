package io.viva.redis;

import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.output.StatusOutput;
import io.lettuce.core.protocol.AsyncCommand;
import io.lettuce.core.protocol.Command;
import io.lettuce.core.protocol.CommandType;
import io.lettuce.core.protocol.RedisCommand;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.PlatformDependent;
import io.netty.util.internal.ThreadExecutorMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * One standalone connection to Redis and the event loop that serves it, writing the decisions of
 * every thread in batches from that loop: one task, one write and one flush per batch instead of per
 * command.
 *
 * <p>Why: {@code connection.dispatch(command)} from any thread but the connection's event loop
 * becomes one task handed to that loop (a wake-up when it sleeps, an inter-processor interrupt on a
 * VM) and one {@code write} system call. At a few tens of thousands of decisions a second the loop
 * then spends its time on wake-ups and small writes, and a short stall leaves a queue that drains
 * slowly (docs/benchmarks.md, the Redis store's open loop). Here a command joins a queue, and the
 * first one into an empty queue schedules a drain on the loop; whatever has queued by the time it
 * runs goes out together. Commands issued on the loop itself (a Vert.x request on a loop lent to
 * Lettuce, see {@link RedisClients#perEventLoop}) queue as well and go out after the loop has
 * handled all the input at hand, again in one flush, without any hand-off between threads; those
 * issued by the callbacks of a reply go out at once ({@link #replying}).
 *
 * <p>Lettuce does not expose the channel, so the event loop is learned from the thread that
 * completes a reply ({@link #replied}), first that of a {@code PING} sent by {@link #learnLoop}.
 * Until then, or when the loop refuses the task (it is shutting down), commands are dispatched
 * directly. Should a reconnect move the channel to another loop, drains run on the old one until
 * the next reply says so: still correct, as Lettuce accepts writes from any thread.
 *
 * <p>Not for a Cluster connection, whose commands go to one connection (and loop) per node.
 */
final class Lane implements Runnable {
  final StatefulConnection<Object, Object> connection;
  private final Queue<RedisCommand<Object, Object, ?>> queue = PlatformDependent.newMpscQueue();
  private final AtomicBoolean scheduled = new AtomicBoolean();
  private final LongAdder written = new LongAdder();
  private volatile EventExecutor loop;
  /**
   * Set on the loop while a reply's callbacks run ({@link #replying}): a decision they ask for is
   * written at once. Read and written only on the loop.
   */
  private boolean replying;

  Lane(StatefulConnection<Object, Object> connection) {
    this.connection = connection;
  }

  /** Sends a PING whose reply tells which event loop serves the connection. */
  void learnLoop() {
    AsyncCommand<String, String, String> ping =
        new AsyncCommand<>(new Command<>(CommandType.PING, new StatusOutput<>(StringCodec.ASCII)));
    // Registered before the dispatch, so it runs on the thread that completes the reply.
    ping.whenComplete((pong, error) -> {
      if (error == null) {
        replied();
      }
    });
    dispatch(raw(ping));
  }

  /** The event loop that serves the connection, as last seen; null until a reply has been read. */
  EventExecutor loop() {
    return loop;
  }

  /** Decisions written on this connection so far. */
  long written() {
    return written.sum();
  }

  /** Writes {@code command} soon, with the others queued by then. Never throws: a failed write fails the command. */
  void write(RedisCommand<Object, Object, ?> command) {
    written.increment();
    EventExecutor l = loop;
    if (l == null || (l.inEventLoop() && replying)) {
      dispatch(command);
      return;
    }
    queue.offer(command);
    if (!scheduled.get() && scheduled.compareAndSet(false, true)) {
      try {
        l.execute(this);
      } catch (RejectedExecutionException e) {
        loop = null;
        scheduled.set(false);
        run();
      }
    }
  }

  /** Writes a batch at once, on the calling thread. */
  void writeAll(List<RedisCommand<Object, Object, ?>> batch) {
    written.add(batch.size());
    dispatchAll(batch);
  }

  /**
   * Runs the callbacks of a reply from Redis, on the thread that read it. A decision they ask for
   * (a caller that chains decisions, each after the last one's answer) is written at once, not
   * after the loop's other work: Redis is waiting for it, and writing it now keeps the pipeline
   * full. Decisions asked from other input on the loop (requests to a server) queue as usual.
   */
  void replying(Runnable callbacks) {
    replied();
    replying = true;
    try {
      callbacks.run();
    } finally {
      replying = false;
    }
  }

  /** Called on the thread that completed a reply from Redis: the connection's event loop. */
  void replied() {
    EventExecutor current = ThreadExecutorMap.currentExecutor();
    if (current != null && current != loop) {
      loop = current;
    }
  }

  /** The drain. */
  @Override
  public void run() {
    // Cleared before polling: a command queued after the last poll schedules a new drain.
    scheduled.set(false);
    RedisCommand<Object, Object, ?> first = queue.poll();
    if (first == null) {
      return;
    }
    RedisCommand<Object, Object, ?> second = queue.poll();
    if (second == null) {
      dispatch(first);
      return;
    }
    List<RedisCommand<Object, Object, ?>> batch = new ArrayList<>();
    batch.add(first);
    batch.add(second);
    for (RedisCommand<Object, Object, ?> next; (next = queue.poll()) != null; ) {
      batch.add(next);
    }
    dispatchAll(batch);
  }

  private void dispatch(RedisCommand<Object, Object, ?> command) {
    try {
      connection.dispatch(command);
    } catch (RuntimeException e) {
      command.completeExceptionally(e);
    }
  }

  private void dispatchAll(List<RedisCommand<Object, Object, ?>> batch) {
    try {
      connection.dispatch(batch);
    } catch (RuntimeException e) {
      for (RedisCommand<Object, Object, ?> command : batch) {
        command.completeExceptionally(e);
      }
    }
  }

  @SuppressWarnings("unchecked")
  private static RedisCommand<Object, Object, ?> raw(RedisCommand<String, String, ?> command) {
    return (RedisCommand<Object, Object, ?>) (RedisCommand<?, ?, ?>) command;
  }
}
