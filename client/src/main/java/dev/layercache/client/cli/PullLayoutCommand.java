package dev.layercache.client.cli;

import dev.layercache.client.Digest;
import dev.layercache.client.LayerCacheClient;
import dev.layercache.client.Manifest;
import dev.layercache.client.TransferSummary;
import dev.layercache.client.cli.OciLayout.Descriptor;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code layercache pull-layout}: an image from the server into an OCI image layout directory. */
@Command(name = "pull-layout", mixinStandardHelpOptions = true,
        header = "Pulls an image into an OCI image layout directory.",
        description = {"Pulls an image (a manifest, or an index and its manifests, with every blob they reference)",
            "from the server over gRPC into an OCI image layout directory, creating it if needed and downloading",
            "only the blobs not there yet. index.json gets the manifest, named TAG (default: latest).",
            "DIR must be new, empty or an OCI image layout (--force writes into any directory)."})
final class PullLayoutCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAMESPACE[:TAG]", description = "What to pull: team/app:v1 or team/app@sha256:...")
    String source;

    @Parameters(index = "1", paramLabel = "DIR", description = "The OCI image layout directory.")
    Path dir;

    @Option(names = "--force", description = "Write into DIR even when it is a non-empty directory that is not an"
            + " OCI image layout.")
    boolean force;

    @Override
    public Integer call() throws Exception {
        ImageRef ref = ImageRef.parse(source);
        String ns = ref.namespace();
        refuseForeignDirectory();
        OciLayout layout = new OciLayout(dir);
        PrintWriter out = spec.commandLine().getOut();
        Progress progress = Progress.forTerminal(spec.commandLine().getErr(), global().verbose);
        try (LayerCacheClient client = global().connect(spec, progress)) {
            Manifest root = client.getManifest(ns, ref.reference())
                    .orElseThrow(() -> new CliException(ExitCodes.NOT_FOUND, "no manifest " + (ref.digest().isPresent()
                            ? ref.toString() : ns + ":" + ref.reference()) + " on " + client.target()));
            verify(root, root.digest());
            ref.digest().ifPresent(d -> verify(root, d));

            Map<Digest, Manifest> manifests = new LinkedHashMap<>();
            Map<Digest, Descriptor> blobs = new LinkedHashMap<>();
            Set<Digest> seen = new HashSet<>();
            Deque<Manifest> queue = new ArrayDeque<>();
            queue.add(root);
            seen.add(root.digest());
            while (!queue.isEmpty()) {
                Manifest m = queue.removeFirst();
                manifests.put(m.digest(), m);
                for (Descriptor child : OciLayout.children(m.content(), m.mediaType(), m.digest().toString())) {
                    if (!seen.add(child.digest())) {
                        continue;
                    }
                    if (child.isManifest()) {
                        Optional<Manifest> cm = client.getManifest(ns, child.digest().toString());
                        Manifest c = cm.orElseThrow(() -> new CliException(ExitCodes.NOT_FOUND, "manifest "
                                + child.digest() + " (referenced by " + m.digest() + ") is not in " + ns));
                        verify(c, child.digest());
                        queue.add(c);
                    } else {
                        blobs.put(child.digest(), child);
                    }
                }
            }

            layout.create();
            Map<Digest, Path> targets = new LinkedHashMap<>();
            long bytes = 0;
            int present = 0;
            for (Descriptor b : blobs.values()) {
                Path p = layout.blob(b.digest());
                if (Files.isRegularFile(p) && Files.size(p) == b.size()) {
                    present++;
                    continue;
                }
                Files.deleteIfExists(p);
                targets.put(b.digest(), p);
                bytes += b.size();
            }
            progress.start("pulling " + ref, targets.size(), bytes);
            TransferSummary received;
            try {
                received = client.downloadBlobs(ns, targets, true);
            } finally {
                progress.finish();
            }
            for (Manifest m : manifests.values()) {
                layout.writeBlob(m.digest(), m.content());
            }
            Map<String, String> annotations = new LinkedHashMap<>();
            if (ref.digest().isEmpty()) {
                annotations.put(OciLayout.REF_NAME, ref.reference());
            }
            layout.addToIndex(new Descriptor(root.mediaType(), root.digest(), root.size(), annotations));
            out.println("pulled " + (ref.digest().isPresent() ? ref.toString() : ns + ":" + ref.reference()) + " "
                    + root.digest() + " into " + dir);
            out.println(received.transferred() + " blob(s) received (" + Terminal.bytes(received.bytes()) + "), "
                    + present + " already there, " + manifests.size() + " manifest(s)");
            out.flush();
        }
        return ExitCodes.OK;
    }

    /**
     * A mistyped DIR (the home directory, a source tree) would get blobs/, index.json and
     * oci-layout among its files: only an empty directory or an OCI layout is written to.
     */
    private void refuseForeignDirectory() throws java.io.IOException {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new CliException(ExitCodes.INVALID, dir + " is a file, not a directory");
        }
        if (force || !Files.isDirectory(dir) || Files.exists(dir.resolve("oci-layout"))) {
            return;
        }
        try (java.util.stream.Stream<Path> entries = Files.list(dir)) {
            if (entries.findAny().isPresent()) {
                throw new CliException(ExitCodes.INVALID, dir + " is a non-empty directory that is not an OCI image"
                        + " layout (no oci-layout file): give an empty or new directory, or --force to write into it");
            }
        }
    }

    private static void verify(Manifest m, Digest expected) {
        Digest actual = Digest.of(expected.algorithm(), expected.algorithm().newMessageDigest().digest(m.content()));
        if (!actual.equals(expected)) {
            throw new CliException(ExitCodes.SERVER, "manifest " + expected + " from the server does not match its"
                    + " digest (got " + actual + ")");
        }
    }

    private GlobalOptions global() {
        return GlobalOptions.of(spec);
    }
}
