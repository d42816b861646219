package dev.layercache.server.registry;

import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.UploadIndex.UploadRecord;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Where upload sessions can be found by other nodes of a cluster. A session's bytes stay on the
 * node that received them; when a request for it reaches another node (a load balancer sent the
 * {@code PATCH} or {@code PUT} elsewhere), that node takes the session over: it moves the
 * acknowledged bytes from the owner and carries on, hashing them again.
 */
public interface UploadDirectory {

    /** A node on its own: sessions are never elsewhere. */
    UploadDirectory NONE = new UploadDirectory() {
        @Override
        public void announce(String id, RepositoryName repository) {
        }

        @Override
        public void forget(String id) {
        }

        @Override
        public UploadRecord takeOver(String id, Path target) {
            return null;
        }
    };

    /** Records that this node holds session {@code id}; the client is told its id only after this. */
    void announce(String id, RepositoryName repository) throws IOException;

    /** The session ended (completed, cancelled, expired). */
    void forget(String id);

    /**
     * Moves the acknowledged bytes of session {@code id} from the node that holds it into
     * {@code target} and returns the session's record; null when no live node holds it.
     */
    UploadRecord takeOver(String id, Path target) throws IOException;
}
