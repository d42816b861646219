package dev.layercache.loadtest;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The simulator's model of a value on the server that every write replaces: a BuildKit cache
 * ref (the manifest its tag points to), or the server's record of a step id's last publication
 * (what it explains misses against). Seen from the fleet, such a value is not known exactly:
 * writes that overlap in time may be applied in either order, and an observation (a lookup) that
 * overlaps a write may see the value before or after it. So the model answers with the
 * <em>states the value may have had</em> during an observation, and an expectation holds only
 * when it holds in all of them ({@link Expectation#over}).
 *
 * <p>The rules: once a write succeeded, the value is that write's or that of a write that
 * overlapped it and has ended (the server may have applied that one last); a write that failed
 * may or may not have been applied, so its value joins the possible ones; a write in flight may
 * have been applied already. An observation may see any state possible when it began, and the
 * value of any write that begins before it ends. Thread-safe.
 *
 * @param <S> the state, for example the set of keys a ref lists
 */
final class OverwrittenValue<S> {
    /** The states the value may have, leaving aside the writes in flight. */
    private List<S> settled;
    private final Map<Long, Write<S>> inFlight = new HashMap<>();
    private final Set<Observation<S>> observing = new HashSet<>();
    private long nextWriteId;

    /** A value that starts as {@code initial} (for example "no such tag"). */
    OverwrittenValue(S initial) {
        this.settled = List.of(initial);
    }

    /** Call just before sending the request that observes the value. */
    synchronized Observation<S> beginObservation() {
        Observation<S> o = new Observation<>(new ArrayList<>(settled));
        inFlight.values().forEach(w -> o.possible.add(w.value));
        observing.add(o);
        return o;
    }

    /** Call once the observation's answer came: the states the value may have had meanwhile. */
    synchronized List<S> endObservation(Observation<S> observation) {
        observing.remove(observation);
        return List.copyOf(observation.possible);
    }

    /** Call just before sending the write of {@code value}; returns the write's id. */
    synchronized long beginWrite(S value) {
        Write<S> w = new Write<>(value);
        for (Write<S> other : inFlight.values()) {
            other.overlapping.add(w);
            w.overlapping.add(other);
        }
        long id = nextWriteId++;
        inFlight.put(id, w);
        observing.forEach(o -> o.possible.add(value));
        return id;
    }

    /** Call once the write returned, or failed. */
    synchronized void endWrite(long id, boolean succeeded) {
        Write<S> w = inFlight.remove(id);
        if (w == null) {
            throw new IllegalStateException("no write " + id + " in flight");
        }
        w.ended = true;
        List<S> now = new ArrayList<>();
        if (succeeded) {
            now.add(w.value);
            w.overlapping.stream().filter(o -> o.ended).forEach(o -> now.add(o.value));
        } else {
            now.addAll(settled);
            now.add(w.value);
        }
        settled = now;
    }

    /** An observation in progress: the states seen possible so far. */
    static final class Observation<S> {
        private final List<S> possible;

        private Observation(List<S> possible) {
            this.possible = possible;
        }
    }

    private static final class Write<S> {
        final S value;
        final List<Write<S>> overlapping = new ArrayList<>();
        boolean ended;

        Write(S value) {
            this.value = value;
        }
    }
}
