package dev.layercache.loadtest;

import java.util.ArrayList;
import java.util.List;

/**
 * Whether a series sampled through a long run is flat or grows steadily, the question a soak
 * asks of resident memory, file descriptors, threads and metadata.
 *
 * <p>The start of a run is a warm-up (the JIT compiles, heaps and RocksDB's memtables fill,
 * connections open, an empty store gets its first files), so the series is judged on what comes
 * after its first window: a least-squares slope over those samples, and the lowest value of the
 * last window against the highest of the window after the warm-up. It is <em>growing</em> when
 * both say so by more than the tolerance: the slope, carried over the samples it was fitted on,
 * adds more than the tolerance, and even the last window's lowest value is above everything the
 * series reached right after the warm-up by more than the tolerance. A leak climbs past any
 * earlier peak; a climb that stops after the warm-up, noise, and a sawtooth (blob bytes between
 * two lifecycle runs, RocksDB's files between two compactions) do not.
 *
 * @param first the mean over the first window
 * @param last the mean over the last window
 * @param slopePerHour the least-squares slope after the first window, per hour
 * @param verdict flat, growing, or no data
 */
record Trend(double first, double last, double slopePerHour, Verdict verdict) {

    /** The judgement of a series. */
    enum Verdict {
        FLAT("flat"),
        GROWING("growing"),
        NO_DATA("no data");

        private final String label;

        Verdict(String label) {
            this.label = label;
        }

        String label() {
            return label;
        }
    }

    /**
     * How much a series may grow and still be flat: the larger of {@code relative} times its
     * level (the larger of its first-window and steady means) and {@code absolute}, in its unit.
     */
    record Tolerance(double relative, double absolute) {
        double of(double level) {
            return Math.max(relative * Math.abs(level), absolute);
        }
    }

    /**
     * The window a run of {@code seconds} is judged on at its start and its end: a tenth of it,
     * at most five minutes.
     */
    static double window(double seconds) {
        return Math.min(0.1 * seconds, 300);
    }

    /**
     * Judges {@code values} sampled at {@code seconds} (from the start of the run); NaN values
     * (a figure that could not be read) are left out.
     */
    static Trend of(double[] seconds, double[] values, double window, Tolerance tolerance) {
        List<double[]> points = new ArrayList<>();
        for (int i = 0; i < Math.min(seconds.length, values.length); i++) {
            if (!Double.isNaN(values[i]) && !Double.isNaN(seconds[i])) {
                points.add(new double[] {seconds[i], values[i]});
            }
        }
        if (points.isEmpty()) {
            return new Trend(Double.NaN, Double.NaN, Double.NaN, Verdict.NO_DATA);
        }
        double start = points.get(0)[0];
        double end = points.get(points.size() - 1)[0];
        double first = mean(points, start, start + window);
        double last = mean(points, end - window, end);
        List<double[]> steady = points.stream().filter(p -> p[0] > start + window).toList();
        if (steady.size() < 3) {
            steady = points;
        }
        if (steady.size() < 2) {
            return new Trend(first, last, Double.NaN, Verdict.FLAT);
        }
        double slope = slope(steady);
        double span = steady.get(steady.size() - 1)[0] - steady.get(0)[0];
        double allowed = tolerance.of(Math.max(Math.abs(first), Math.abs(mean(steady, -Double.MAX_VALUE,
                Double.MAX_VALUE))));
        double earlyHigh = extreme(steady, steady.get(0)[0], steady.get(0)[0] + window, true);
        double lateLow = extreme(points, end - window, end, false);
        boolean growing = slope * span > allowed && lateLow - earlyHigh > allowed;
        return new Trend(first, last, slope * 3600, growing ? Verdict.GROWING : Verdict.FLAT);
    }

    /** The highest (or lowest) value sampled within {@code [from, to]}; the first point's when none is. */
    private static double extreme(List<double[]> points, double from, double to, boolean highest) {
        double out = Double.NaN;
        for (double[] p : points) {
            if (p[0] >= from && p[0] <= to && (Double.isNaN(out) || (highest ? p[1] > out : p[1] < out))) {
                out = p[1];
            }
        }
        return Double.isNaN(out) ? points.get(0)[1] : out;
    }

    /** Mean of the values sampled within {@code [from, to]}; the nearest one when none is. */
    private static double mean(List<double[]> points, double from, double to) {
        double sum = 0;
        int n = 0;
        for (double[] p : points) {
            if (p[0] >= from && p[0] <= to) {
                sum += p[1];
                n++;
            }
        }
        if (n > 0) {
            return sum / n;
        }
        double[] nearest = points.get(0);
        for (double[] p : points) {
            if (Math.abs(p[0] - from) < Math.abs(nearest[0] - from)) {
                nearest = p;
            }
        }
        return nearest[1];
    }

    /** The least-squares slope of value over time. */
    static double slope(List<double[]> points) {
        double mt = 0;
        double mv = 0;
        for (double[] p : points) {
            mt += p[0];
            mv += p[1];
        }
        mt /= points.size();
        mv /= points.size();
        double num = 0;
        double den = 0;
        for (double[] p : points) {
            num += (p[0] - mt) * (p[1] - mv);
            den += (p[0] - mt) * (p[0] - mt);
        }
        return den == 0 ? 0 : num / den;
    }
}
