package dev.layercache.server.mirror;

import dev.layercache.server.core.RepositoryName;

/**
 * A repository a client asked for that is a mirror of an upstream's.
 *
 * @param upstream the upstream it mirrors
 * @param remote   the repository's name at the upstream ({@code library/busybox})
 * @param local    where this node keeps its copy: the upstream's name, then the remote name
 *                 ({@code docker.io/library/busybox}), whichever way the client asked
 */
public record Mirrored(Upstream upstream, String remote, RepositoryName local) {
}
