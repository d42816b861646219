package dev.layercache.server.testing;

import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * A small seeded generator for bounded fuzzing in plain JUnit tests. {@link #forAll} runs a fixed
 * number of tries, each from its own seed derived from the test's seed, and on a failure names
 * the try, its seed and the generated input, so {@code Fuzz.replay(trySeed, ...)} reproduces it
 * alone. No time-dependent randomness: a run fails the same way every time.
 */
public final class Fuzz {
    private final Random random;

    public Fuzz(long seed) {
        this.random = new Random(seed);
    }

    /** A check of one generated input. */
    @FunctionalInterface
    public interface Check<T> {
        void check(T input) throws Exception;
    }

    /** Runs {@code tries} inputs made by {@code generate} through {@code check}; returns how many ran. */
    public static <T> int forAll(long seed, int tries, Function<Fuzz, T> generate, Check<T> check) {
        SplittableRandom seeds = new SplittableRandom(seed);
        for (int i = 0; i < tries; i++) {
            long trySeed = seeds.nextLong();
            T input = generate.apply(new Fuzz(trySeed));
            try {
                check.check(input);
            } catch (Throwable t) {
                throw new AssertionError("try " + (i + 1) + " of " + tries + " (seed " + seed + ", try seed " + trySeed
                        + ") failed for input: " + describe(input), t);
            }
        }
        return tries;
    }

    /** Runs the one input that try seed {@code trySeed} generates: to reproduce a failure. */
    public static <T> void replay(long trySeed, Function<Fuzz, T> generate, Check<T> check) throws Exception {
        check.check(generate.apply(new Fuzz(trySeed)));
    }

    public Random random() {
        return random;
    }

    /** A number in [min, max]. */
    public int between(int min, int max) {
        return min + random.nextInt(max - min + 1);
    }

    public boolean chance(double p) {
        return random.nextDouble() < p;
    }

    @SafeVarargs
    public final <T> T pick(T... options) {
        return options[random.nextInt(options.length)];
    }

    public <T> T pick(List<T> options) {
        return options.get(random.nextInt(options.size()));
    }

    public byte[] bytes(int maxLength) {
        byte[] b = new byte[between(0, maxLength)];
        random.nextBytes(b);
        return b;
    }

    /** A string of {@code min} to {@code max} characters of {@code alphabet}. */
    public String string(String alphabet, int min, int max) {
        int n = between(min, max);
        StringBuilder s = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            s.append(alphabet.charAt(random.nextInt(alphabet.length())));
        }
        return s.toString();
    }

    /** A long that favours the edges: 0, -1, the extremes, powers of two, and their neighbours. */
    public long edgyLong() {
        return switch (random.nextInt(6)) {
            case 0 -> pick(0L, -1L, 1L, Long.MAX_VALUE, Long.MIN_VALUE, Integer.MAX_VALUE + 1L);
            case 1 -> (1L << random.nextInt(63)) + between(-1, 1);
            case 2 -> -random.nextInt(1000);
            default -> random.nextInt(100_000);
        };
    }

    private static String describe(Object input) {
        String s = input instanceof byte[] b ? b.length + " bytes" : String.valueOf(input);
        return s.length() > 2000 ? s.substring(0, 2000) + "... (" + s.length() + " chars)" : s;
    }
}
