package dev.layercache.server.core;

import java.util.Objects;
import java.util.regex.Pattern;

/** A tag, validated against the OCI grammar {@code [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}}. */
public final class Tag implements Comparable<Tag> {

    private static final Pattern GRAMMAR = Pattern.compile("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");

    private final String value;

    private Tag(String value) {
        this.value = value;
    }

    public static Tag parse(String value) {
        Objects.requireNonNull(value, "value");
        if (!GRAMMAR.matcher(value).matches()) {
            throw new RegistryException(ErrorCode.TAG_INVALID, "invalid tag: " + Digest.abbreviate(value));
        }
        return new Tag(value);
    }

    @Override
    public String toString() {
        return value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Tag t && t.value.equals(value);
    }

    @Override
    public int hashCode() {
        return value.hashCode();
    }

    @Override
    public int compareTo(Tag o) {
        return value.compareTo(o.value);
    }
}
