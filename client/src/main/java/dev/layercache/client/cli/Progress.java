package dev.layercache.client.cli;

import dev.layercache.client.ClientListener;
import dev.layercache.client.Digest;
import dev.layercache.client.RetryEvent;
import dev.layercache.client.TransferEvent;
import java.io.PrintWriter;
import java.util.HashMap;
import java.util.Map;

/**
 * Draws transfer progress on one stderr line when stderr is a terminal, and reports retries
 * (on a terminal, or with --verbose). Thread-safe: parallel transfers report at once.
 */
final class Progress implements ClientListener {
    private static final long REDRAW_NANOS = 100_000_000L;

    private final PrintWriter err;
    private final boolean draw;
    private final boolean verbose;
    private final Map<Digest, Long> positions = new HashMap<>();
    private String label = "";
    private long totalBytes = -1;
    private int totalBlobs;
    private int doneBlobs;
    private long doneBytes;
    private long lastDraw;
    private boolean lineDrawn;

    Progress(PrintWriter err, boolean draw, boolean verbose) {
        this.err = err;
        this.draw = draw;
        this.verbose = verbose;
    }

    static Progress forTerminal(PrintWriter err, boolean verbose) {
        return new Progress(err, Terminal.stderrIsTerminal(), verbose);
    }

    synchronized void start(String label, int blobs, long bytes) {
        this.label = label;
        this.totalBlobs = blobs;
        this.totalBytes = bytes;
        this.doneBlobs = 0;
        this.doneBytes = 0;
        positions.clear();
        redraw(true);
    }

    synchronized void finish() {
        if (lineDrawn) {
            err.print("\r\033[K");
            err.flush();
            lineDrawn = false;
        }
        label = "";
    }

    @Override
    public synchronized void onRetry(RetryEvent e) {
        if (draw || verbose) {
            clearLine();
            err.printf("retrying %s after %s (attempt %d of %d, in %.1f s)%n", e.operation(), e.code()
                    + (e.description().isEmpty() ? "" : ": " + e.description()), e.attempt() + 1, e.maxAttempts(),
                    e.delay().toMillis() / 1000.0);
            err.flush();
        }
    }

    @Override
    public synchronized void onTransfer(TransferEvent e) {
        long previous = positions.getOrDefault(e.digest(), 0L);
        switch (e.kind()) {
            case PROGRESS, RESUMED -> {
                doneBytes += e.position() - previous;
                positions.put(e.digest(), e.position());
                if (e.kind() == TransferEvent.Kind.RESUMED && (draw || verbose)) {
                    clearLine();
                    err.printf("resuming %s %s at %s%n", e.direction() == TransferEvent.Direction.UPLOAD
                            ? "upload of" : "download of", e.digest().shortForm(), Terminal.bytes(e.position()));
                    err.flush();
                }
            }
            case COMPLETED, ALREADY_PRESENT -> {
                doneBlobs++;
                if (e.size() >= 0) {
                    doneBytes += e.size() - previous;
                    positions.put(e.digest(), e.size());
                }
            }
            default -> {
            }
        }
        redraw(e.kind() != TransferEvent.Kind.PROGRESS);
    }

    private void redraw(boolean force) {
        if (!draw || label.isEmpty()) {
            return;
        }
        long now = System.nanoTime();
        if (!force && now - lastDraw < REDRAW_NANOS) {
            return;
        }
        lastDraw = now;
        StringBuilder sb = new StringBuilder("\r\033[K").append(label).append("  ");
        sb.append(doneBlobs).append('/').append(totalBlobs).append(" blobs  ");
        sb.append(Terminal.bytes(Math.max(0, doneBytes)));
        if (totalBytes > 0) {
            sb.append(" / ").append(Terminal.bytes(totalBytes))
                    .append(String.format("  %3d%%", Math.min(100, doneBytes * 100 / totalBytes)));
        }
        err.print(sb);
        err.flush();
        lineDrawn = true;
    }

    private void clearLine() {
        if (lineDrawn) {
            err.print("\r\033[K");
            lineDrawn = false;
        }
    }
}
