package dev.layercache.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.storage.ObjectStore;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;

/**
 * Which node runs the bucket's collection: the holder of {@code lease/collector}, an object
 * naming the node and until when it holds the lease. A node takes a missing lease with a
 * create-only write, renews its own, and takes over one that expired (its holder died).
 *
 * <p>The lease saves work and bucket requests; safety does not rest on it. Two collectors at
 * once (possible for a moment when an expired lease is taken by two nodes) only repeat each
 * other's deletions: what may be deleted is decided by the pending marks, see
 * {@link BucketCollector}.
 */
public final class Lease {
    static final String OBJECT = "lease/collector";

    private final ObjectStore bucket;
    private final String holder;
    private final Duration term;
    private final Clock clock;
    private final ObjectMapper json = new ObjectMapper();
    private volatile long heldUntil;

    public Lease(ObjectStore bucket, String holder, Duration term, Clock clock) {
        this.bucket = bucket;
        this.holder = holder;
        this.term = term;
        this.clock = clock;
    }

    /** Takes or renews the lease; false when another live node holds it. */
    public boolean acquire() throws IOException {
        long now = clock.millis();
        byte[] mine = json.writeValueAsBytes(json.createObjectNode().put("holder", holder)
                .put("until", now + term.toMillis()));
        byte[] current = bucket.get(OBJECT);
        if (current == null) {
            if (!bucket.putIfAbsent(OBJECT, mine)) {
                return false;
            }
        } else {
            JsonNode lease = json.readTree(current);
            boolean ours = holder.equals(lease.path("holder").asText());
            if (!ours && lease.path("until").asLong(0) > now) {
                return false;
            }
            bucket.put(OBJECT, mine);
            byte[] check = bucket.get(OBJECT);
            if (check == null || !holder.equals(json.readTree(check).path("holder").asText())) {
                return false; // another node took the expired lease at the same moment
            }
        }
        heldUntil = now + term.toMillis();
        return true;
    }

    /** True while the lease this node took has not run out (checked before each deletion). */
    public boolean held() {
        return clock.millis() < heldUntil - 1000;
    }
}
