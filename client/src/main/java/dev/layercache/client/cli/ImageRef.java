package dev.layercache.client.cli;

import dev.layercache.client.Digest;
import java.util.Optional;

/** {@code NAMESPACE[:TAG]} or {@code NAMESPACE@DIGEST}, as push-layout and pull-layout take them. */
record ImageRef(String namespace, Optional<String> tag, Optional<Digest> digest) {

    static ImageRef parse(String text) {
        String ns = text;
        Optional<String> tag = Optional.empty();
        Optional<Digest> digest = Optional.empty();
        int at = text.indexOf('@');
        if (at >= 0) {
            ns = text.substring(0, at);
            try {
                digest = Optional.of(Digest.parse(text.substring(at + 1)));
            } catch (IllegalArgumentException e) {
                throw new CliException(ExitCodes.INVALID, "in " + text + ": " + e.getMessage());
            }
        } else {
            int colon = text.lastIndexOf(':');
            if (colon >= 0 && text.indexOf('/', colon) < 0) {
                ns = text.substring(0, colon);
                String t = text.substring(colon + 1);
                if (!OciLayout.isTag(t)) {
                    throw new CliException(ExitCodes.INVALID, "invalid tag \"" + t + "\" in " + text);
                }
                tag = Optional.of(t);
            }
        }
        if (ns.isEmpty()) {
            throw new CliException(ExitCodes.INVALID, "no namespace in \"" + text + "\" (want team/app[:tag])");
        }
        return new ImageRef(NamespaceName.check(ns), tag, digest);
    }

    /** The reference for GetManifest: the digest, the tag, or {@code latest}. */
    String reference() {
        return digest.map(Digest::toString).orElse(tag.orElse("latest"));
    }

    @Override
    public String toString() {
        return namespace + digest.map(d -> "@" + d).orElse(tag.map(t -> ":" + t).orElse(""));
    }
}
