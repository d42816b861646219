package dev.layercache.client.cli;

import picocli.CommandLine.Option;

/** {@code --namespace}: the repository-style namespace of entries and blobs. */
final class NamespaceOption {
    @Option(names = {"-n", "--namespace"}, paramLabel = "NAMESPACE", defaultValue = "${env:LAYERCACHE_NAMESPACE}",
            description = "Namespace: an OCI repository name such as team/app (default: $LAYERCACHE_NAMESPACE).")
    String namespace;

    String require() {
        if (namespace == null || namespace.isEmpty()) {
            throw new CliException(ExitCodes.INVALID, "a namespace is required: --namespace team/app");
        }
        return NamespaceName.check(namespace);
    }
}
