package dev.layercache.server.auth;

import java.util.Locale;

/** What a rule allows in a namespace. */
public enum Action {
    /** Pull: blobs, manifests, tags, cache entries, listings. */
    READ,
    /** Push: uploads, manifests, tags, cache entries. */
    WRITE,
    /** Delete manifests, tags, blobs and entries. */
    DELETE,
    /** Run collections, read the store's state, take over another node's upload sessions. */
    ADMIN;

    public static Action parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown action '" + text + "' (read, write, delete, admin)");
        }
    }
}
