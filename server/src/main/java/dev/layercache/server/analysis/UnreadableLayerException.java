package dev.layercache.server.analysis;

import java.io.IOException;

/** A layer that cannot be read as a (compressed) tar archive: the client's data, not a server fault. */
public final class UnreadableLayerException extends IOException {
    private static final long serialVersionUID = 1L;
    private final int index;
    private final String digest;

    UnreadableLayerException(int index, String digest, Throwable cause) {
        super("layer " + index + " (" + digest + ") cannot be read as a tar archive: "
                + (cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage()), cause);
        this.index = index;
        this.digest = digest;
    }

    /** The layer's position in the image, lowest first. */
    public int index() {
        return index;
    }

    /** The layer's digest. */
    public String digest() {
        return digest;
    }
}
