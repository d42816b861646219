package dev.layercache.server.mirror;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;

/**
 * One upstream registry a node mirrors (setting {@code mirror}, docs/mirror.md): the name clients
 * use for it ({@code docker.io}, {@code ghcr.io}), where it is, how to sign in, and how long a tag
 * read from it is trusted before it is asked again.
 *
 * @param name         the registry's name as clients write it in image references: the first
 *                     path component of a mirrored repository ({@code docker.io/library/busybox})
 *                     and the value of containerd's {@code ?ns=}
 * @param url          the registry's base URL, without {@code /v2/} ({@code https://registry-1.docker.io})
 * @param credentials  how to sign in, or {@link Credentials#NONE} (anonymous tokens)
 * @param revalidate   how long a tag read from the upstream is served without asking it again
 */
public record UpstreamSettings(String name, URI url, Credentials credentials, Duration revalidate) {
    /** How long a tag is trusted by default: short enough to see a moved tag soon, long enough to spare the upstream. */
    public static final Duration DEFAULT_REVALIDATE = Duration.ofMinutes(5);

    public UpstreamSettings {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(url, "url");
        Objects.requireNonNull(credentials, "credentials");
        Objects.requireNonNull(revalidate, "revalidate");
    }

    /**
     * A user name and a secret (a password or an access token, sent with Basic or exchanged at the
     * token realm), or none. The secret is never logged: {@link #toString()} leaves it out.
     */
    public record Credentials(String user, String secret) {
        public static final Credentials NONE = new Credentials(null, null);

        public boolean present() {
            return user != null && secret != null;
        }

        @Override
        public String toString() {
            return present() ? "Credentials[user=" + user + ", secret=(hidden)]" : "Credentials[none]";
        }
    }
}
