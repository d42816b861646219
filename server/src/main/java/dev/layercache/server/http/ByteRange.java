package dev.layercache.server.http;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;

/**
 * A single byte range of a {@code Range: bytes=...} request header, resolved against the size of
 * the blob (inclusive {@code first} and {@code last}).
 */
record ByteRange(long first, long last) {

    long length() {
        return last - first + 1;
    }

    /**
     * Resolves {@code header} against {@code size}: null means "send the whole blob" (no header, a
     * unit other than bytes, or several ranges, which RFC 9110 lets a server ignore). A range that
     * cannot be satisfied or parsed throws RANGE_INVALID.
     */
    static ByteRange parse(String header, long size) {
        if (header == null) {
            return null;
        }
        String h = header.trim();
        if (!h.regionMatches(true, 0, "bytes=", 0, 6)) {
            return null;
        }
        String spec = h.substring(6).trim();
        if (spec.indexOf(',') >= 0) {
            return null;
        }
        int dash = spec.indexOf('-');
        if (dash < 0) {
            throw invalid(header, size);
        }
        String a = spec.substring(0, dash).trim();
        String b = spec.substring(dash + 1).trim();
        long first;
        long last;
        if (a.isEmpty()) {
            long suffix = number(b, header, size);
            if (suffix == 0 || size == 0) {
                throw invalid(header, size);
            }
            first = Math.max(0, size - suffix);
            last = size - 1;
        } else {
            first = number(a, header, size);
            last = b.isEmpty() ? size - 1 : Math.min(number(b, header, size), size - 1);
            if (first >= size || (!b.isEmpty() && number(b, header, size) < first)) {
                throw invalid(header, size);
            }
        }
        return new ByteRange(first, last);
    }

    private static long number(String s, String header, long size) {
        if (s.isEmpty() || s.length() > 18 || !s.chars().allMatch(Character::isDigit)) {
            throw invalid(header, size);
        }
        return Long.parseLong(s);
    }

    private static RegistryException invalid(String header, long size) {
        return new RegistryException(ErrorCode.RANGE_INVALID,
                "range not satisfiable for a blob of " + size + " bytes: " + abbreviate(header), new Unsatisfiable(size));
    }

    private static String abbreviate(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }

    /** Detail of an unsatisfiable read, so the error mapping can add {@code Content-Range: bytes *}{@code /size}. */
    record Unsatisfiable(long size) {
    }
}
