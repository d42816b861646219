package dev.layercache.server.mirror;

import dev.layercache.server.core.RepositoryName;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The upstream registries a node mirrors, and which repository names are theirs (docs/mirror.md,
 * "How clients ask"):
 * <ul>
 *   <li>a name whose first component is an upstream's name: {@code docker.io/library/busybox}
 *       (skopeo, crane, registries.conf mirrors with a namespaced location);</li>
 *   <li>any name with {@code ?ns=<upstream>}: {@code library/busybox?ns=docker.io} (containerd's
 *       and BuildKit's {@code hosts.toml} mirrors);</li>
 *   <li>for {@code docker.io} only, a name with no upstream prefix when no repository of that
 *       name exists here: dockerd's {@code registry-mirrors}, which sends no {@code ns}
 *       ({@link #dockerHub}; the caller checks that no local repository has the name).</li>
 * </ul>
 * Whichever way a client asks, the copy is kept under the upstream's name followed by the name at
 * the upstream, so the three ways share one cache. A Docker Hub name of one component is an
 * official image: {@code busybox} is {@code library/busybox}, as Docker Hub itself reads it.
 * Names under an upstream's name are read-only ({@link #isMirrored}).
 */
public final class Mirrors {
    /** Docker Hub's name as clients write it. */
    public static final String DOCKER_HUB = "docker.io";

    public static final Mirrors NONE = new Mirrors(List.of());

    private final Map<String, Upstream> upstreams = new LinkedHashMap<>();

    public Mirrors(List<Upstream> upstreams) {
        for (Upstream u : upstreams) {
            this.upstreams.put(u.name(), u);
        }
    }

    /** True when this node mirrors anything. */
    public boolean enabled() {
        return !upstreams.isEmpty();
    }

    /** The upstreams, in configuration order. */
    public List<Upstream> upstreams() {
        return List.copyOf(upstreams.values());
    }

    /** True when {@code repository} (a raw name) lies under an upstream's name: it is a mirror, read-only. */
    public boolean isMirrored(String repository) {
        return repository != null && upstreams.containsKey(firstComponent(repository));
    }

    /** The mirror a name asks for by its first component ({@code docker.io/library/busybox}). */
    public Optional<Mirrored> byPath(RepositoryName repository) {
        String name = repository.toString();
        int slash = name.indexOf('/');
        if (slash < 0) {
            return Optional.empty();
        }
        Upstream u = upstreams.get(name.substring(0, slash));
        return u == null ? Optional.empty() : Optional.of(mirrored(u, name.substring(slash + 1)));
    }

    /** The mirror a name asks for with containerd's {@code ?ns=}; empty when {@code ns} is no upstream here. */
    public Optional<Mirrored> byNamespace(RepositoryName repository, String ns) {
        Upstream u = ns == null ? null : upstreams.get(ns);
        return u == null ? Optional.empty() : Optional.of(mirrored(u, repository.toString()));
    }

    /**
     * Docker Hub's mirror for a name dockerd asks for without {@code ns}, when {@code docker.io} is
     * mirrored and the name is under no upstream; the caller first checks that no repository of
     * that name exists here (a local repository always wins).
     */
    public Optional<Mirrored> dockerHub(RepositoryName repository) {
        Upstream hub = upstreams.get(DOCKER_HUB);
        if (hub == null || isMirrored(repository.toString())) {
            return Optional.empty();
        }
        return Optional.of(mirrored(hub, repository.toString()));
    }

    private static Mirrored mirrored(Upstream upstream, String remote) {
        if (upstream.name().equals(DOCKER_HUB) && remote.indexOf('/') < 0) {
            remote = "library/" + remote; // an official image, as Docker Hub names it
        }
        return new Mirrored(upstream, remote, RepositoryName.parse(upstream.name() + "/" + remote));
    }

    private static String firstComponent(String name) {
        int slash = name.indexOf('/');
        return slash < 0 ? name : name.substring(0, slash);
    }
}
