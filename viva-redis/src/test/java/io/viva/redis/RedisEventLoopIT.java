package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.resource.ClientResources;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.Policy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A store on one connection per event loop ({@link RedisClients#perEventLoop}), as the server runs
 * it on Vert.x's loops: a decision asked on a loop is written on that loop's connection and
 * answered on that loop, decisions asked together on a loop reach Redis in one write, a blocking
 * call there is refused rather than left to wait for itself, and a connection lost with its server
 * comes back on its own loop. Counted, not timed.
 */
@Timeout(60)
class RedisEventLoopIT {

  @RegisterExtension
  static final RedisServerProcess REDIS = new RedisServerProcess();

  private static final Policy POLICY = Policy.of("loops", Limit.tokenBucket(1_000, Duration.ofMinutes(1)));

  private MultiThreadIoEventLoopGroup group;
  private ClientResources resources;
  private RedisClients.PerEventLoop clients;
  private RedisLimitStore store;
  private final List<EventLoop> loops = new ArrayList<>();

  @BeforeEach
  void start() {
    group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    for (EventExecutor e : group) {
      loops.add((EventLoop) e);
    }
    resources = RedisClients.resources();
    clients = RedisClients.perEventLoop(resources, loops, RedisURI.create(REDIS.url()), Duration.ofSeconds(2));
    List<StatefulRedisConnection<String, String>> connections = clients.connect();
    store = RedisLimitStore.builder(connections).keyPrefix("loops:").build();
  }

  @AfterEach
  void stop() throws Exception {
    store.close();
    clients.close();
    resources.shutdown(0, 2, TimeUnit.SECONDS).get(5, TimeUnit.SECONDS);
    // Bounded: a loop stuck in a blocking call (the bug the last test guards against) never stops.
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
  }

  /** Runs {@code n} decisions on key {@code key} from inside one task on {@code loop}; each completes with the executor it completed on. */
  private List<CompletableFuture<EventExecutor>> decideOn(EventLoop loop, String key, int n) throws Exception {
    return loop.submit(() -> {
      List<CompletableFuture<EventExecutor>> answered = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        CompletableFuture<EventExecutor> where = new CompletableFuture<>();
        store.acquireAsync(POLICY, key, 1, null).whenComplete((d, e) -> {
          if (e != null) {
            where.completeExceptionally(e);
          } else if (!d.allowed()) {
            where.completeExceptionally(new AssertionError("denied: " + d));
          } else {
            where.complete(ThreadExecutorMap.currentExecutor());
          }
        });
        answered.add(where);
      }
      return answered;
    }).get(5, TimeUnit.SECONDS);
  }

  private static List<EventExecutor> join(List<CompletableFuture<EventExecutor>> answered) throws Exception {
    CompletableFuture.allOf(answered.toArray(new CompletableFuture[0])).get(10, TimeUnit.SECONDS);
    return answered.stream().map(CompletableFuture::join).toList();
  }

  private void awaitLoopsLearned() throws Exception {
    // The store learns each connection's loop from a PING's reply sent when it was built.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (System.nanoTime() < deadline) {
      List<EventExecutor> first = join(decideOn(loops.get(0), "learn-0", 1));
      List<EventExecutor> second = join(decideOn(loops.get(1), "learn-1", 1));
      if (first.get(0) == loops.get(0) && second.get(0) == loops.get(1)) {
        return;
      }
      Thread.sleep(10);
    }
    throw new AssertionError("the store never wrote a loop's decisions on that loop's connection");
  }

  @Test
  void aDecisionAskedOnALoopIsWrittenAndAnsweredOnThatLoopsConnection() throws Exception {
    awaitLoopsLearned();
    for (int i = 0; i < loops.size(); i++) {
      long[] before = store.writtenPerConnection();
      List<EventExecutor> where = join(decideOn(loops.get(i), "user-" + i, 20));
      long[] after = store.writtenPerConnection();
      assertThat(where).containsOnly(loops.get(i));
      for (int c = 0; c < after.length; c++) {
        assertThat(after[c] - before[c]).as("decisions on connection %d from loop %d", c, i).isEqualTo(c == i ? 20 : 0);
      }
    }
    // The key's state is shared, whichever connection wrote it.
    join(decideOn(loops.get(1), "user-0", 5));
    assertThat(store.acquire(POLICY, "user-0", 0, null).remaining()).isEqualTo(1_000 - 25);
  }

  @Test
  void decisionsAskedTogetherOnALoopReachRedisInOneWrite() throws Exception {
    awaitLoopsLearned();
    long readsBefore = reads();
    List<EventExecutor> where = join(decideOn(loops.get(0), "together", 100));
    long reads = reads() - readsBefore - 1;
    assertThat(where).hasSize(100).containsOnly(loops.get(0));
    // One write of 100 EVALSHAs (a few reads at most, if the kernel splits it), not 100.
    assertThat(reads).isBetween(1L, 3L);
    assertThat(store.acquire(POLICY, "together", 0, null).remaining()).isEqualTo(900);
  }

  @Test
  void aBlockingCallOnALoopThatReadsRepliesIsRefused() throws Exception {
    awaitLoopsLearned();
    assertThatThrownBy(() -> loops.get(0).submit(() -> store.acquire(POLICY, "blocking", 1, null)).get(5, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause().isInstanceOf(IllegalStateException.class).hasMessageContaining("acquireAsync");
    assertThatThrownBy(() -> loops.get(1).submit(() -> store.reset(POLICY, "blocking")).get(5, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause().isInstanceOf(IllegalStateException.class);
    // Nothing was charged, and from any other thread the blocking calls work.
    Decision d = store.acquire(POLICY, "blocking", 1, null);
    assertThat(d.remaining()).isEqualTo(999);
    store.reset(POLICY, "blocking");
    assertThat(store.acquire(POLICY, "blocking", 0, null).remaining()).isEqualTo(1_000);
  }

  @Test
  void threadsOffTheLoopsEachKeepToAConnectionAndSpreadOverThem() throws Exception {
    long[] before = store.writtenPerConnection();
    long[] expected = before.clone();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      String key = "spread-" + t;
      Thread thread = Thread.ofPlatform().unstarted(() -> {
        for (int i = 0; i < 10; i++) {
          store.acquire(POLICY, key, 1, null);
        }
      });
      expected[(int) (thread.threadId() % expected.length)] += 10;
      threads.add(thread);
    }
    threads.forEach(Thread::start);
    for (Thread t : threads) {
      t.join();
    }
    assertThat(store.writtenPerConnection()).containsExactly(expected);
    for (int t = 0; t < 8; t++) {
      assertThat(store.acquire(POLICY, "spread-" + t, 0, null).remaining()).isEqualTo(990);
    }
  }

  @Test
  void aLostConnectionComesBackOnTheLoopLentToIt() throws Exception {
    awaitLoopsLearned();
    REDIS.kill();
    REDIS.restart();
    // Lettuce reconnects each connection on its own loop and sends what waited; the fresh server
    // has no script, so the store loads it again (NOSCRIPT) and resends.
    for (int i = 0; i < loops.size(); i++) {
      long[] before = store.writtenPerConnection();
      List<EventExecutor> where = join(decideOn(loops.get(i), "after-" + i, 5));
      long[] after = store.writtenPerConnection();
      assertThat(where).containsOnly(loops.get(i));
      assertThat(after[i] - before[i]).isGreaterThanOrEqualTo(5);
      assertThat(after[1 - i] - before[1 - i]).isZero();
    }
    assertThat(store.acquire(POLICY, "after-0", 0, null).remaining()).isEqualTo(995);
  }

  private static long reads() {
    String text = REDIS.connection().sync().info("stats");
    Matcher m = Pattern.compile("total_reads_processed:(\\d+)").matcher(text);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }
}
