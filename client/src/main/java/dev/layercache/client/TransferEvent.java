package dev.layercache.client;

import static java.util.Objects.requireNonNull;

/**
 * Progress of one blob transfer.
 *
 * @param kind what happened
 * @param direction upload or download
 * @param namespace the namespace
 * @param digest the blob
 * @param position bytes transferred so far (for RESUMED: the offset it resumes from)
 * @param size the blob's size, or -1 while unknown
 */
public record TransferEvent(Kind kind, Direction direction, String namespace, Digest digest, long position,
                            long size) {

    /** What happened to the transfer. */
    public enum Kind {
        /** The transfer began. */
        STARTED,
        /** More bytes went through. */
        PROGRESS,
        /** The stream broke and the transfer goes on from {@code position}. */
        RESUMED,
        /** An upload found the blob already in the namespace and sent nothing (more). */
        ALREADY_PRESENT,
        /** The transfer finished and verified. */
        COMPLETED
    }

    /** Which way the bytes go. */
    public enum Direction {
        /** To the server. */
        UPLOAD,
        /** From the server. */
        DOWNLOAD
    }

    /** Validates the fields. */
    public TransferEvent {
        requireNonNull(kind, "kind");
        requireNonNull(direction, "direction");
        requireNonNull(namespace, "namespace");
        requireNonNull(digest, "digest");
    }
}
