package dev.layercache.loadtest;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * How big the layers of the simulated steps are: weighted classes of sizes, written
 * {@code WEIGHT:MIN-MAX,...} with sizes in bytes or with a {@code k}, {@code m} or {@code g}
 * suffix (KiB, MiB, GiB). The default, {@value #DEFAULT}, is what a build cache of container
 * layers sees: most layers small (a copied manifest, a config file), some of a few MiB (compiled
 * code), a few of hundreds of MiB (dependencies, toolchains).
 *
 * <p>A class is drawn by weight, then a size within its range, log-uniformly (as many layers
 * between 4 and 16 KiB as between 64 and 256 KiB), which is closer to real layer sizes than a
 * uniform draw that would put nearly every layer near the top of its range.
 *
 * @param classes the size classes, in the order written
 */
record SizeMix(List<SizeClass> classes) {

    /** The default mix. */
    static final String DEFAULT = "80:4k-256k,18:1m-16m,2:100m-400m";

    /**
     * One class of sizes.
     *
     * @param weight its relative weight
     * @param min the smallest size, bytes
     * @param max the largest size, bytes
     */
    record SizeClass(double weight, long min, long max) {
        SizeClass {
            if (!(weight > 0) || min < 1 || max < min) {
                throw new IllegalArgumentException("a size class needs a positive weight and 1 <= MIN <= MAX");
            }
        }
    }

    SizeMix {
        classes = List.copyOf(classes);
        if (classes.isEmpty()) {
            throw new IllegalArgumentException("a size mix needs at least one class");
        }
    }

    /**
     * Parses {@code WEIGHT:MIN-MAX,...}, for example {@code 80:4k-256k,18:1m-16m,2:100m-400m}.
     *
     * @throws IllegalArgumentException with what is wrong
     */
    static SizeMix parse(String text) {
        List<SizeClass> classes = new ArrayList<>();
        for (String part : text.split(",")) {
            String[] weightAndRange = part.trim().split(":");
            String[] range = weightAndRange.length == 2 ? weightAndRange[1].split("-") : new String[0];
            if (range.length != 2) {
                throw new IllegalArgumentException("size class \"" + part.trim() + "\" is not WEIGHT:MIN-MAX");
            }
            try {
                classes.add(new SizeClass(Double.parseDouble(weightAndRange[0]), bytes(range[0]), bytes(range[1])));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("size class \"" + part.trim() + "\" is not WEIGHT:MIN-MAX", e);
            }
        }
        return new SizeMix(classes);
    }

    /**
     * The same mix with no layer above {@code maxBytes}: a range that reaches past it ends there,
     * a range wholly above it becomes that one size. Keeps short runs short without changing how
     * often big layers come.
     */
    SizeMix capped(long maxBytes) {
        List<SizeClass> capped = new ArrayList<>();
        for (SizeClass c : classes) {
            capped.add(new SizeClass(c.weight(), Math.min(c.min(), maxBytes), Math.min(c.max(), maxBytes)));
        }
        return new SizeMix(capped);
    }

    /** A size drawn from the mix with {@code random}. */
    long sample(SplittableRandom random) {
        double total = classes.stream().mapToDouble(SizeClass::weight).sum();
        double pick = random.nextDouble() * total;
        SizeClass chosen = classes.get(classes.size() - 1);
        for (SizeClass c : classes) {
            pick -= c.weight();
            if (pick < 0) {
                chosen = c;
                break;
            }
        }
        double logMin = Math.log(chosen.min());
        double logMax = Math.log(chosen.max() + 1.0);
        long size = (long) Math.exp(logMin + random.nextDouble() * (logMax - logMin));
        return Math.max(chosen.min(), Math.min(chosen.max(), size));
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (SizeClass c : classes) {
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(c.weight() == Math.rint(c.weight()) ? Long.toString((long) c.weight()) : Double.toString(c.weight()))
                    .append(':').append(human(c.min())).append('-').append(human(c.max()));
        }
        return sb.toString();
    }

    private static long bytes(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.endsWith("ib")) {
            t = t.substring(0, t.length() - 2);
        } else if (t.endsWith("b")) {
            t = t.substring(0, t.length() - 1);
        }
        long unit = 1;
        if (t.endsWith("k")) {
            unit = 1L << 10;
        } else if (t.endsWith("m")) {
            unit = 1L << 20;
        } else if (t.endsWith("g")) {
            unit = 1L << 30;
        }
        if (unit != 1) {
            t = t.substring(0, t.length() - 1);
        }
        return Math.round(Double.parseDouble(t) * unit);
    }

    private static String human(long bytes) {
        if (bytes % (1L << 30) == 0) {
            return (bytes >> 30) + "g";
        }
        if (bytes % (1L << 20) == 0) {
            return (bytes >> 20) + "m";
        }
        if (bytes % (1L << 10) == 0) {
            return (bytes >> 10) + "k";
        }
        return Long.toString(bytes);
    }
}
