package dev.layercache.server.registry;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.retention.AccessTracker;
import dev.layercache.server.retention.ReferenceGuard;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.LinkIndex;
import dev.layercache.server.metadata.ReleaseIndex;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.storage.BlobBackend;
import dev.layercache.server.storage.BlobContent;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.BiConsumer;
import java.time.Clock;

/**
 * Blobs as the OCI API sees them: content-addressed bytes that are readable through the
 * repositories they were pushed or mounted to.
 */
public final class BlobService {
    private final AccessTracker access;

    /** An open blob: its content to stream from and its recorded size. The receiver closes the content. */
    public record OpenBlob(Digest digest, BlobContent content, long size) {
    }

    private final KeyValueStore kv;
    private final BlobBackend backend;
    private final BlobIndex blobs;
    private final LinkIndex links;
    private final ReleaseIndex releases;
    private final RepositoryIndex repositories;
    private final Clock clock;

    private final ReferenceGuard guard;
    /** Told of the size of each blob new to the store (see {@link #whenStored}). */
    private volatile java.util.function.LongConsumer stored = bytes -> { };
    /** Told of a blob whose record exists but whose file does not (see {@link #whenBytesLost}). */
    private volatile BiConsumer<Digest, String> lost = (digest, why) -> { };
    /**
     * True while the start-up check runs (see {@link #filesInDoubt}): records may then outlive
     * their files, so every answer that says a blob exists also looks for its file.
     */
    private volatile boolean filesInDoubt;

    public BlobService(KeyValueStore kv, BlobBackend backend, Clock clock, AccessTracker access,
                       ReferenceGuard guard) {
        this.access = access;
        this.guard = guard;
        this.kv = kv;
        this.backend = backend;
        this.blobs = new BlobIndex(kv);
        this.links = new LinkIndex(kv);
        this.releases = new ReleaseIndex(kv);
        this.repositories = new RepositoryIndex(kv);
        this.clock = clock;
    }

    /** Who hears of every blob new to the store, with its size (the lifecycle, to keep the budget). */
    public void whenStored(java.util.function.LongConsumer listener) {
        this.stored = listener;
    }

    /**
     * Who repairs the metadata when a blob's file turns out to be gone (the lifecycle: the blob
     * and the roots that need it are forgotten, so clients see a miss, never a stream of errors).
     */
    public void whenBytesLost(BiConsumer<Digest, String> handler) {
        this.lost = handler;
    }

    /**
     * While {@code inDoubt}, a record is not taken as proof that a blob's file exists: the
     * start-up check, which finds records whose file was lost while the node was down, runs in
     * the background after the node is ready. Lookups, mounts and the checks of a publication
     * then look for the file as reads always do (a stat each); a blob without one is a miss and
     * is reported to {@link #whenBytesLost}. Off again once the check has repaired the store,
     * so that the lookups of a node in steady state cost no system call.
     */
    public void filesInDoubt(boolean inDoubt) {
        this.filesInDoubt = inDoubt;
    }

    /** True while the start-up check runs: no answer about a blob may be given from memory. */
    public boolean filesInDoubt() {
        return filesInDoubt;
    }

    /**
     * A client asks about {@code digest}, and the answer comes from memory ({@code registry.AnswerCache}):
     * recorded as {@link #stat} records it, under the digest's lock, so that a collection either
     * removed the blob before (and {@code stillHeld}, asked under the lock, says no) or sees the
     * question and keeps it. False when the answer may not be given so: the lock is busy, or the
     * memory no longer holds it.
     */
    public boolean askedFromMemory(Digest digest, java.util.function.BooleanSupplier stillHeld) {
        Boolean yes = guard.tryAsking(digest, () -> {
            if (!stillHeld.getAsBoolean()) {
                return false;
            }
            access.touchBlob(digest);
            return true;
        });
        return Boolean.TRUE.equals(yes);
    }

    /** {@code size} when it is -1 or the file is there (or need not be looked for), else -1. */
    private long unlessFileLost(Digest digest, long size) {
        if (size < 0 || !filesInDoubt) {
            return size;
        }
        try {
            if (backend.size(digest) >= 0) {
                return size;
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        lost.accept(digest, "has no file");
        return -1;
    }

    /**
     * The size of {@code digest} as seen through {@code repo}; BLOB_UNKNOWN when it is not there,
     * including when its record outlived its file: a "yes" would make a client skip its upload.
     * That client names the blob in a manifest or entry soon: it is kept a while from now on,
     * even should its last root be evicted meanwhile (see {@code Collector}).
     */
    public long stat(RepositoryName repo, Digest digest) {
        return guard.asking(digest, () -> {
            long size = sizeOnDisk(repo, digest);
            access.touchBlob(digest);
            return size;
        });
    }

    /** As {@link #stat}, for a read: a download that has started keeps its bytes whatever happens next. */
    private long sizeOnDisk(RepositoryName repo, Digest digest) {
        long size = links.size(repo, digest);
        if (size < 0) {
            throw unknown(digest);
        }
        try {
            if (backend.size(digest) < 0) {
                lost.accept(digest, "has no file");
                throw unknown(digest);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return size;
    }

    /**
     * The size of {@code digest} as seen through {@code repo}, or -1 when it is not there, for an
     * answer to a client: a client told a blob exists skips its upload and names it in a manifest
     * or entry soon, so the blob is kept through the grace period from now on.
     */
    public long sizeIfLinked(RepositoryName repo, Digest digest) {
        return guard.asking(digest, () -> {
            long size = unlessFileLost(digest, links.size(repo, digest));
            if (size >= 0) {
                access.touchBlob(digest);
            }
            return size;
        });
    }

    /**
     * A client's question whether {@code digest} is readable through {@code repo} (FindMissingBlobs),
     * as a lookup: a hit with its size, or a miss. A hit is kept as by {@link #sizeIfLinked}.
     */
    public BlobLookup lookup(RepositoryName repo, Digest digest) {
        long size = sizeIfLinked(repo, digest);
        return size < 0 ? BlobLookup.MISS : BlobLookup.hit(size);
    }

    /** True when {@code digest} is readable through {@code repo}, for an answer to a client (see {@link #sizeIfLinked}). */
    public boolean isLinked(RepositoryName repo, Digest digest) {
        return sizeIfLinked(repo, digest) >= 0;
    }

    /**
     * True when {@code digest} is readable through {@code repo}, for the server's own checks (a
     * manifest's or entry's references as it is published): no client was told anything, and the
     * publication itself is what claims the blob.
     */
    public boolean holds(RepositoryName repo, Digest digest) {
        return heldSize(repo, digest) >= 0;
    }

    /** True when this store holds {@code digest}'s bytes, whichever repositories link them. */
    public boolean stored(Digest digest) {
        return storedSize(digest) >= 0;
    }

    /** The size of {@code digest}'s bytes in this store, whichever repositories link them; -1 when not stored. */
    public long storedSize(Digest digest) {
        return unlessFileLost(digest, blobs.size(digest));
    }

    /** As {@link #holds}, with the blob's size: -1 when it is not readable through {@code repo}. */
    public long heldSize(RepositoryName repo, Digest digest) {
        return unlessFileLost(digest, links.size(repo, digest));
    }

    public OpenBlob open(RepositoryName repo, Digest digest) throws IOException {
        long size = links.size(repo, digest);
        if (size < 0) {
            throw unknown(digest);
        }
        // No separate look for the bytes first (as sizeOnDisk does): opening is that look.
        BlobContent content = backend.open(digest);
        if (content == null) {
            // Metadata says yes but the bytes are gone: answer a miss rather than a broken stream.
            lost.accept(digest, "has no file");
            throw unknown(digest);
        }
        return new OpenBlob(digest, content, size);
    }

    /**
     * Removes the blob from {@code repo}; its bytes stay while other repositories link them or a
     * root needs them, and go with the next collection otherwise, grace period or not (see
     * {@link ReleaseIndex}).
     */
    public void delete(RepositoryName repo, Digest digest) {
        if (!holds(repo, digest)) {
            throw unknown(digest);
        }
        KeyValueStore.Batch batch = kv.batch();
        links.delete(batch, repo, digest);
        releases.put(batch, digest, clock.millis(), ReleaseIndex.Scope.UNLINKED);
        batch.commit(true);
    }

    /**
     * Links an existing blob into {@code target} without a transfer. With {@code from}, the blob
     * must be readable through {@code from}; without it, any stored copy will do (the spec's
     * "automatic content discovery"). Returns false when there is nothing to mount.
     */
    public boolean mount(RepositoryName target, Digest digest, RepositoryName from) {
        // Under the digest's lock: collection cannot remove the blob between the check and the link.
        return guard.publishing(List.of(digest), () -> {
            long size = unlessFileLost(digest, from != null ? links.size(from, digest) : blobs.size(digest));
            if (size < 0) {
                return false;
            }
            link(target, digest, size);
            access.touchBlob(digest);
            return true;
        });
    }

    /**
     * Stores {@code verifiedFile}, whose content has been checked to hash to {@code digest}, and
     * links it to {@code repo}. A blob already stored keeps its single copy.
     *
     * @return true when the blob is new to the store, false when it was already stored
     */
    public boolean commitVerified(RepositoryName repo, Digest digest, Path verifiedFile, long size) throws IOException {
        try {
            // Under the digest's lock: a collection removing an older copy of the same blob
            // either finishes first or leaves this one alone (see ReferenceGuard).
            boolean added = guard.publishing(List.of(digest), () -> {
                try {
                    backend.commit(digest, verifiedFile);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
                KeyValueStore.Batch batch = kv.batch();
                boolean isNew = blobs.size(digest) < 0;
                if (!isNew) {
                    // Sent again by a client that will name it soon: as good as asking for it. A new
                    // blob's grace runs from its record's time.
                    access.touchBlob(digest);
                }
                if (isNew) {
                    blobs.put(batch, digest, size, clock.millis());
                }
                links.put(batch, repo, digest, size);
                repositories.put(batch, repo);
                batch.commit(true);
                return isNew;
            });
            if (added) {
                stored.accept(size);
            }
            return added;
        } catch (java.io.UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /**
     * The largest blob {@link #commitInline} takes: 0 when the bytes of every blob go to a file
     * (a cluster), else the bytes an upload may hold on the heap.
     */
    public int inlineLimit() {
        return backend.inlineLimit();
    }

    /**
     * As {@link #commitVerified}, for a small blob whose verified bytes are all on the heap: they
     * are stored in the batch of the blob's record and link, one synced write. No file, no
     * rename, no folder sync; concurrent commits share RocksDB's log sync. {@code alsoInBatch} adds
     * the caller's own changes to that batch (the upload session's record removed), so that they
     * are written with the blob, not in a write of their own.
     */
    public boolean commitInline(RepositoryName repo, Digest digest, byte[] bytes, int length,
                                java.util.function.Consumer<KeyValueStore.Batch> alsoInBatch) throws IOException {
        try {
            boolean added = guard.publishing(List.of(digest), () -> {
                KeyValueStore.Batch batch = kv.batch();
                boolean isNew = blobs.size(digest) < 0;
                try {
                    // A record without bytes (lost while the node was down, not yet repaired) gets
                    // them back, as a file commit would.
                    if (isNew || backend.size(digest) < 0) {
                        backend.commitInline(batch, digest, bytes, length);
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
                if (isNew) {
                    blobs.put(batch, digest, length, clock.millis());
                } else {
                    access.touchBlob(digest);
                }
                links.put(batch, repo, digest, length);
                repositories.put(batch, repo);
                alsoInBatch.accept(batch);
                batch.commit(true);
                return isNew;
            });
            if (added) {
                stored.accept(length);
            }
            return added;
        } catch (java.io.UncheckedIOException e) {
            throw e.getCause();
        }
    }

    private void link(RepositoryName repo, Digest digest, long size) {
        KeyValueStore.Batch batch = kv.batch();
        links.put(batch, repo, digest, size);
        repositories.put(batch, repo);
        batch.commit(true);
    }

    private static RegistryException unknown(Digest digest) {
        return new RegistryException(ErrorCode.BLOB_UNKNOWN, "blob unknown to registry: " + digest, digest.toString());
    }
}
