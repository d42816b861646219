package dev.layercache.server.lifecycle;

/**
 * The budget in force: {@code maxBytes} of blobs (0: none), evicting from {@code highBytes}
 * down to {@code lowBytes}. Worked out by {@link EvictionPolicy#budget}.
 *
 * @param configuredBytes    what {@code max-disk-size} comes to on this file system (0: none)
 * @param fileSystemBytes    the size of the data directory's file system
 * @param freeBytes          what it had free when the budget was worked out
 * @param minFreeBytes       what {@code min-free-disk} comes to (0: no floor)
 * @param limitedByFreeSpace true when the floor, not {@code max-disk-size}, sets {@code maxBytes}
 */
public record Budget(long maxBytes, long highBytes, long lowBytes, long configuredBytes, long fileSystemBytes,
                     long freeBytes, long minFreeBytes, boolean limitedByFreeSpace) {
    static final Budget NONE = new Budget(0, 0, 0, 0, 0, 0, 0, false);
}
