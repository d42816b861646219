package dev.layercache.server.retention;

import dev.layercache.server.core.Digest;
import java.util.Collection;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

/**
 * Keeps collection from removing a blob that a manifest or entry is being published against at
 * that moment (distribution/distribution#3743: "the blob exists", then the collector takes it,
 * then the manifest lands pointing at nothing).
 *
 * <p>A publication checks that its blobs exist and commits while holding the locks of its
 * digests (striped); the collector removes a blob only under the same lock, and only if no
 * publication since its mark phase referenced it. So either the publication comes first and the
 * blob is kept, or the removal comes first and the publication sees the blob missing.
 *
 * <p>The mark phase starts behind a brief barrier (the write side of a read-write lock that
 * publications hold for reading), so no publication that began before marking can commit after
 * it unseen; publications never wait for the rest of a collection.
 */
public final class ReferenceGuard {
    private static final int STRIPES = 1024;

    private final ReentrantLock[] locks = new ReentrantLock[STRIPES];
    private final ReentrantReadWriteLock phase = new ReentrantReadWriteLock();
    private final Set<Digest> referencedSinceMark = ConcurrentHashMap.newKeySet();
    private volatile boolean collecting;
    /** In a cluster: revives blobs the bucket's collector marked pending (see {@code Revival}). */
    private volatile java.util.function.Consumer<Collection<Digest>> beforePublishing = digests -> { };

    public ReferenceGuard() {
        for (int i = 0; i < STRIPES; i++) {
            locks[i] = new ReentrantLock();
        }
    }

    /** Also tells {@code hook} of each publication's digests, before it checks and commits. */
    public void beforePublishing(java.util.function.Consumer<Collection<Digest>> hook) {
        this.beforePublishing = hook;
    }

    /** Runs {@code publish} (which checks that {@code digests} exist, then commits) under their locks. */
    public <T> T publishing(Collection<Digest> digests, Supplier<T> publish) {
        beforePublishing.accept(digests);
        TreeSet<Integer> stripes = new TreeSet<>();
        for (Digest d : digests) {
            stripes.add(stripe(d));
        }
        phase.readLock().lock();
        try {
            for (int s : stripes) {
                locks[s].lock();
            }
            try {
                if (collecting) {
                    referencedSinceMark.addAll(digests);
                }
                return publish.get();
            } finally {
                for (int s : stripes.descendingSet()) {
                    locks[s].unlock();
                }
            }
        } finally {
            phase.readLock().unlock();
        }
    }

    /** Call before the mark phase reads the roots. */
    public void beginMark() {
        phase.writeLock().lock();
        try {
            referencedSinceMark.clear();
            collecting = true;
        } finally {
            phase.writeLock().unlock();
        }
    }

    /** Call when the sweep is over. */
    public void endCollection() {
        collecting = false;
        referencedSinceMark.clear();
    }

    /**
     * Runs {@code remove} under {@code digest}'s lock unless a publication referenced the digest
     * since the mark phase began; returns what it returned (whether it removed the blob), or false.
     */
    public boolean removeIfUnreferenced(Digest digest, java.util.function.BooleanSupplier remove) {
        ReentrantLock lock = locks[stripe(digest)];
        lock.lock();
        try {
            return !referencedSinceMark.contains(digest) && remove.getAsBoolean();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Runs {@code answer} (which records that a client asked for {@code digest}, then says whether
     * it exists) under the digest's lock: a collection's last look at the blob, also under that
     * lock, either comes first (and the answer is no) or sees the question (and keeps the blob).
     * Never "it exists" for a blob removed a moment later.
     */
    public <T> T asking(Digest digest, Supplier<T> answer) {
        ReentrantLock lock = locks[stripe(digest)];
        lock.lock();
        try {
            return answer.get();
        } finally {
            lock.unlock();
        }
    }

    /**
     * As {@link #asking}, for a thread that must not wait (an event loop answering from memory):
     * null, with {@code answer} not run, when the digest's lock is held (a collection may be
     * removing the blob right now; the caller then asks the slow way).
     */
    public <T> T tryAsking(Digest digest, Supplier<T> answer) {
        ReentrantLock lock = locks[stripe(digest)];
        if (!lock.tryLock()) {
            return null;
        }
        try {
            return answer.get();
        } finally {
            lock.unlock();
        }
    }

    private static int stripe(Digest d) {
        return Math.floorMod(d.hashCode(), STRIPES);
    }
}
