package io.viva.platform;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

/**
 * Batches that could not be handed to the usage pipeline, on local disk until it is back. One file
 * per batch, written once and never changed: written to a temporary name, forced to disk, renamed
 * into place and the directory forced, so after a crash a spooled batch is either whole or absent
 * (a half-written temporary file is ignored and removed on open). Files are replayed oldest first and
 * deleted only after the pipeline accepted them; a replay of a batch the database already holds is a
 * no-op (its id).
 */
public final class UsageSpool {

  private static final String SUFFIX = ".batch";
  private final Path dir;
  private final long maxFiles;
  /** Batches in the spool, kept here so a write does not list the directory. */
  private final java.util.concurrent.atomic.AtomicLong count = new java.util.concurrent.atomic.AtomicLong();

  /** A spool in {@code dir} (created) holding at most {@code maxFiles} batches. */
  public UsageSpool(Path dir, long maxFiles) throws IOException {
    this.dir = dir;
    this.maxFiles = maxFiles;
    Files.createDirectories(dir);
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList()) {
        Files.deleteIfExists(p);
      }
    }
    count.set(listCount());
  }

  /** Where the files are. */
  public Path dir() {
    return dir;
  }

  /**
   * Writes {@code batch} durably.
   *
   * @throws IOException if the disk fails or the spool is full
   */
  public void write(UsageBatch batch) throws IOException {
    if (count.get() >= maxFiles) {
      throw new IOException("usage spool " + dir + ": full (" + maxFiles + " batches)");
    }
    String name = String.format("%020d-%s", System.currentTimeMillis() * 1000 + (System.nanoTime() / 1000) % 1000,
        batch.id());
    Path tmp = dir.resolve(name + ".tmp");
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer buf = ByteBuffer.wrap(batch.encode());
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
      ch.force(true);
    }
    Files.move(tmp, dir.resolve(name + SUFFIX), StandardCopyOption.ATOMIC_MOVE);
    forceDirectory();
    count.incrementAndGet();
  }

  /** Spooled files, oldest first, at most {@code limit}. */
  public List<Path> oldest(int limit) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(SUFFIX)).sorted().limit(limit).toList();
    }
  }

  /** How many batches are spooled. */
  public long size() {
    return count.get();
  }

  private long listCount() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(SUFFIX)).count();
    }
  }

  /** Reads a spooled batch. */
  public UsageBatch read(Path file) throws IOException {
    return UsageBatch.decode(Files.readAllBytes(file));
  }

  /** Removes a spooled batch after the pipeline accepted it. */
  public void remove(Path file) throws IOException {
    if (Files.deleteIfExists(file)) {
      count.decrementAndGet();
    }
  }

  /** Moves an unreadable file aside so it does not block the replay. */
  public void quarantine(Path file) throws IOException {
    Files.move(file, file.resolveSibling(file.getFileName() + ".bad"), StandardCopyOption.REPLACE_EXISTING);
    count.decrementAndGet();
  }

  private void forceDirectory() {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    } catch (IOException e) {
      // Some file systems cannot open a directory; the rename is still atomic.
    }
  }
}
