package dev.layercache.client.cli;

import dev.layercache.client.BlobSource;
import dev.layercache.client.BlobUpload;
import dev.layercache.client.Digest;
import dev.layercache.client.LayerCacheClient;
import dev.layercache.client.TransferSummary;
import dev.layercache.client.cli.OciLayout.Descriptor;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code layercache push-layout}: an OCI image layout directory to the server. */
@Command(name = "push-layout", mixinStandardHelpOptions = true,
        header = "Pushes an OCI image layout directory, only missing blobs.",
        description = {"Pushes an OCI image layout directory (oci-layout, index.json, blobs/sha256/...) to the",
            "server over gRPC, sending only the blobs the namespace lacks, then its manifests.",
            "With TAG, pushes the manifest of index.json whose org.opencontainers.image.ref.name is TAG (or the",
            "only manifest when it has no ref name, tagged TAG); a TAG the layout does not name is refused, with",
            "the layout's tags. Without TAG, every manifest of index.json, each tagged by its ref name.",
            "The result is pullable by any registry client through the server's OCI API."})
final class PushLayoutCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The OCI image layout directory.")
    Path dir;

    @Parameters(index = "1", paramLabel = "NAMESPACE[:TAG]", description = "Where to push, for example team/app:v1.")
    String target;

    @Override
    public Integer call() throws Exception {
        ImageRef ref = ImageRef.parse(target);
        if (ref.digest().isPresent()) {
            throw new CliException(ExitCodes.INVALID, "push-layout takes NAMESPACE[:TAG], not a digest");
        }
        OciLayout layout = new OciLayout(dir);
        List<Descriptor> index = layout.readIndex();
        Map<Descriptor, String> roots = roots(index, ref);

        // Walk the manifests: children first, so that each manifest's references exist when it is put.
        Map<Digest, Descriptor> blobs = new LinkedHashMap<>();
        List<Descriptor> manifests = new ArrayList<>();
        Map<Digest, byte[]> contents = new LinkedHashMap<>();
        Set<Digest> visited = new HashSet<>();
        for (Descriptor root : roots.keySet()) {
            walk(layout, root, blobs, manifests, contents, visited);
        }

        PrintWriter out = spec.commandLine().getOut();
        Progress progress = Progress.forTerminal(spec.commandLine().getErr(), global().verbose);
        try (LayerCacheClient client = global().connect(spec, progress)) {
            String ns = ref.namespace();
            List<Digest> missing = client.findMissingBlobs(ns, blobs.keySet());
            List<BlobUpload> uploads = new ArrayList<>();
            long bytes = 0;
            for (Digest d : missing) {
                Descriptor desc = blobs.get(d);
                Path file = layout.blob(d);
                if (!Files.isRegularFile(file)) {
                    throw new CliException(ExitCodes.INVALID, "blob " + d + " is in neither " + dir
                            + " nor namespace " + ns);
                }
                long size = Files.size(file);
                if (size != desc.size()) {
                    throw new CliException(ExitCodes.INVALID, "blob " + d + " in " + dir + " has " + size
                            + " bytes, its descriptor says " + desc.size());
                }
                uploads.add(new BlobUpload(d, size, BlobSource.ofFile(file)));
                bytes += size;
            }
            progress.start("pushing " + ref, uploads.size(), bytes);
            TransferSummary sent;
            try {
                sent = client.uploadBlobs(ns, uploads);
            } finally {
                progress.finish();
            }
            // Children before the indexes that reference them, each by digest; then the tags.
            for (Descriptor m : manifests) {
                put(client, ns, m.digest().toString(), m, contents.get(m.digest()));
            }
            for (Map.Entry<Descriptor, String> r : roots.entrySet()) {
                if (r.getValue() != null) {
                    put(client, ns, r.getValue(), r.getKey(), contents.get(r.getKey().digest()));
                }
            }
            for (Map.Entry<Descriptor, String> r : roots.entrySet()) {
                out.println("pushed " + ns + (r.getValue() == null ? "@" + r.getKey().digest()
                        : ":" + r.getValue() + " " + r.getKey().digest()));
            }
            out.println(sent.transferred() + " blob(s) sent (" + Terminal.bytes(sent.bytes()) + "), "
                    + (blobs.size() - sent.transferred()) + " already present, " + manifests.size() + " manifest(s)");
            out.flush();
        }
        return ExitCodes.OK;
    }

    private static void put(LayerCacheClient client, String ns, String reference, Descriptor m, byte[] content) {
        String type = OciLayout.manifestType(m.mediaType(), content, m.digest().toString());
        Digest stored = client.putManifest(ns, reference, type, content);
        if (!stored.equals(m.digest())) {
            throw new CliException(ExitCodes.SERVER, "the server stored manifest " + m.digest() + " as " + stored);
        }
    }

    /** The manifests of index.json to push, each with its tag (null: by digest only). */
    private Map<Descriptor, String> roots(List<Descriptor> index, ImageRef ref) {
        Map<Descriptor, String> roots = new LinkedHashMap<>();
        if (ref.tag().isPresent()) {
            String tag = ref.tag().get();
            for (Descriptor d : index) {
                if (d.refName().equals(tag)) {
                    roots.put(d, tag);
                }
            }
            // The only manifest is tagged TAG only when it has no name of its own (a BuildKit cache
            // export): a named one under another tag is a typo, which would push the wrong image.
            if (roots.isEmpty() && index.size() == 1 && index.get(0).refName().isEmpty()) {
                roots.put(index.get(0), tag);
            }
            if (roots.isEmpty()) {
                List<String> names = index.stream().map(Descriptor::refName).filter(s -> !s.isEmpty()).toList();
                throw new CliException(ExitCodes.INVALID, "no manifest named " + tag + " in " + dir.resolve("index.json")
                        + (names.isEmpty() ? " (its manifests have no ref names: push without :TAG)"
                        : " (its tags: " + String.join(", ", names) + ")"));
            }
            if (roots.size() > 1) {
                throw new CliException(ExitCodes.INVALID, roots.size() + " manifests are named " + tag + " in "
                        + dir.resolve("index.json"));
            }
            return roots;
        }
        for (Descriptor d : index) {
            String name = d.refName();
            int colon = name.lastIndexOf(':');
            if (!OciLayout.isTag(name) && colon >= 0 && name.indexOf('/', colon) < 0) {
                name = name.substring(colon + 1);
            }
            roots.put(d, OciLayout.isTag(name) ? name : null);
        }
        if (roots.isEmpty()) {
            throw new CliException(ExitCodes.INVALID, dir.resolve("index.json") + " lists no manifest");
        }
        return roots;
    }

    private void walk(OciLayout layout, Descriptor d, Map<Digest, Descriptor> blobs, List<Descriptor> manifests,
                      Map<Digest, byte[]> contents, Set<Digest> visited) throws Exception {
        if (!visited.add(d.digest())) {
            return;
        }
        Path file = layout.blob(d.digest());
        if (!Files.isRegularFile(file)) {
            throw new CliException(ExitCodes.INVALID, "manifest " + d.digest() + " is missing from " + dir);
        }
        byte[] content = Files.readAllBytes(file);
        if (!Digest.sha256(content).equals(d.digest()) && d.digest().algorithm() == Digest.Algorithm.SHA256) {
            throw new CliException(ExitCodes.INVALID, "manifest " + d.digest() + " in " + dir
                    + " does not match its digest");
        }
        for (Descriptor child : OciLayout.children(content, d.mediaType(), d.digest().toString())) {
            if (child.isManifest()) {
                walk(layout, child, blobs, manifests, contents, visited);
            } else {
                blobs.putIfAbsent(child.digest(), child);
            }
        }
        manifests.add(d);
        contents.put(d.digest(), content);
    }

    private GlobalOptions global() {
        return GlobalOptions.of(spec);
    }
}
