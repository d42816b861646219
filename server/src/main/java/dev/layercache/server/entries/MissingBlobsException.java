package dev.layercache.server.entries;

import dev.layercache.server.core.Digest;
import java.util.List;

/** An entry or manifest names blobs its namespace does not have: nothing was stored. */
public final class MissingBlobsException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient List<Digest> missing;

    public MissingBlobsException(String namespace, List<Digest> missing) {
        super("blobs not in " + namespace + ": " + missing, null, false, false);
        this.missing = List.copyOf(missing);
    }

    public List<Digest> missing() {
        return missing;
    }
}
