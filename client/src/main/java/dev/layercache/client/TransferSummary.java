package dev.layercache.client;

/**
 * What a batch of transfers did.
 *
 * @param transferred blobs whose bytes were sent or received
 * @param skipped blobs that needed no transfer (already in the namespace, or already on disk)
 * @param bytes bytes moved for the transferred blobs
 */
public record TransferSummary(int transferred, int skipped, long bytes) {

    /** This summary plus another. */
    public TransferSummary plus(TransferSummary other) {
        return new TransferSummary(transferred + other.transferred, skipped + other.skipped, bytes + other.bytes);
    }
}
