package dev.layercache.server.core;

/**
 * The {@code <reference>} of a manifest URL: a digest or a tag. A string with a colon is a digest
 * (tags cannot contain one), so an invalid digest is reported as DIGEST_INVALID, not as a bad tag.
 */
public sealed interface Reference {

    record ByDigest(Digest digest) implements Reference {
        @Override
        public String toString() {
            return digest.toString();
        }
    }

    record ByTag(Tag tag) implements Reference {
        @Override
        public String toString() {
            return tag.toString();
        }
    }

    static Reference parse(String text) {
        if (text.indexOf(':') >= 0) {
            return new ByDigest(Digest.parse(text));
        }
        return new ByTag(Tag.parse(text));
    }
}
