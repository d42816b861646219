package dev.layercache.server.storage;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The shared, durable tier of a cluster: named objects in a flat key space, as an S3-compatible
 * bucket offers them ({@code S3ObjectStore}), or a folder that every node mounts
 * ({@code FileObjectStore}). Keys are non-empty strings of {@code [A-Za-z0-9!%._/:-]}, never
 * starting or ending with {@code /} and never containing {@code //}; they sort as UTF-8 bytes.
 *
 * <p>Contract (checked by {@code ObjectStoreContract} for every implementation):
 * <ul>
 *   <li>Every write is durable and readable by every node when it returns (read-after-write);
 *       a reader sees a whole object or none of it, never part of one.
 *   <li>{@link #put}, {@link #putFile} replace an existing object (last writer wins);
 *       {@link #putIfAbsent} never replaces one.
 *   <li>Memory stays flat for any object size: {@link #putFile} and {@link #download} stream.
 *   <li>An unreachable store surfaces as {@link UnavailableException}, never as "absent".
 * </ul>
 */
public interface ObjectStore extends AutoCloseable {

    /** The store cannot be reached or answered with a server error: nothing was read or written. */
    final class UnavailableException extends IOException {
        public UnavailableException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Stores {@code bytes} (small: metadata records) under {@code key}, replacing any object there. */
    void put(String key, byte[] bytes) throws IOException;

    /**
     * Stores {@code size} bytes of {@code file} under {@code key}, replacing any object there;
     * large files go up in parts, never whole in memory.
     */
    void putFile(String key, Path file, long size) throws IOException;

    /** Stores {@code bytes} under {@code key} only when no object is there; false when one is. */
    boolean putIfAbsent(String key, byte[] bytes) throws IOException;

    /** The bytes of {@code key} (a small object), or null when it is absent. */
    byte[] get(String key) throws IOException;

    /** The size in bytes of {@code key}, or -1 when it is absent. */
    long size(String key) throws IOException;

    /**
     * Streams the object into {@code target} (created or replaced); false, with {@code target}
     * untouched, when the object is absent.
     */
    boolean download(String key, Path target) throws IOException;

    /** Removes {@code key}; absent keys are fine. */
    void delete(String key) throws IOException;

    /** An object as a listing shows it: its key, size, and when it was last written. */
    record ObjectInfo(String key, long size, long lastModifiedMillis) {
    }

    /**
     * Up to {@code limit} keys starting with {@code prefix}, in key order, beginning after
     * {@code startAfter} (or at the prefix when it is null).
     */
    default List<String> list(String prefix, String startAfter, int limit) throws IOException {
        return listObjects(prefix, startAfter, limit).stream().map(ObjectInfo::key).toList();
    }

    /**
     * {@link #list}, with each object's size and time: what the bucket's collection needs, in the
     * same one request per thousand keys.
     */
    List<ObjectInfo> listObjects(String prefix, String startAfter, int limit) throws IOException;

    @Override
    void close();
}
