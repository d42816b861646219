package dev.layercache.server.http;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;

/**
 * The {@code Content-Range} of an upload chunk: {@code <first>-<last>}, inclusive, as the
 * Distribution spec writes it (a leading {@code bytes } or {@code bytes=} is tolerated).
 */
record ContentRange(long first, long last) {

    long length() {
        return last - first + 1;
    }

    /** Null when there is no header; RANGE_INVALID when it is malformed. */
    static ContentRange parse(String header) {
        if (header == null) {
            return null;
        }
        String s = header.trim();
        if (s.startsWith("bytes=") || s.startsWith("bytes ")) {
            s = s.substring(6).trim();
        }
        int slash = s.indexOf('/');
        if (slash >= 0) {
            s = s.substring(0, slash);
        }
        int dash = s.indexOf('-');
        if (dash <= 0 || dash == s.length() - 1) {
            throw invalid(header);
        }
        String a = s.substring(0, dash);
        String b = s.substring(dash + 1);
        if (!digits(a) || !digits(b)) {
            throw invalid(header);
        }
        long first = Long.parseLong(a);
        long last = Long.parseLong(b);
        if (last < first) {
            throw invalid(header);
        }
        return new ContentRange(first, last);
    }

    @Override
    public String toString() {
        return first + "-" + last;
    }

    private static boolean digits(String s) {
        return !s.isEmpty() && s.length() <= 18 && s.chars().allMatch(Character::isDigit);
    }

    private static RegistryException invalid(String header) {
        return new RegistryException(ErrorCode.RANGE_INVALID, "invalid Content-Range: "
                + (header.length() > 60 ? header.substring(0, 57) + "..." : header));
    }
}
