package dev.layercache.client.cli;

import dev.layercache.client.BlobUpload;
import dev.layercache.client.CacheEntry;
import dev.layercache.client.Digest;
import dev.layercache.client.Layer;
import dev.layercache.client.LayerCacheClient;
import dev.layercache.client.Lookup;
import dev.layercache.client.TransferSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code layercache put-entry}: publishes an entry, uploading its layer files first. */
@Command(name = "put-entry", mixinStandardHelpOptions = true,
        header = "Publishes a cache entry (uploading its layer files).",
        description = {"Publishes a cache entry under --key (or the key computed from --parent, --instruction and",
            "the inputs). Layer files are uploaded first when the namespace lacks them; blobs already on the",
            "server are named DIGEST@SIZE. Prints 'published KEY'."})
final class PutEntryCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    NamespaceOption ns;

    @Option(names = "--key", paramLabel = "KEY", description = "The key to publish under.")
    String key;

    @Mixin
    StepOptions step;

    @Option(names = "--layer", paramLabel = "FILE|DIGEST@SIZE", required = true,
            description = "A layer, in order: a local file, or a blob the namespace has (sha256:...@SIZE).")
    List<String> layers = new ArrayList<>();

    @Option(names = "--media-type", paramLabel = "TYPE", defaultValue = Layer.OCI_LAYER_GZIP,
            description = "Media type of the layers (default: ${DEFAULT-VALUE}).")
    String mediaType;

    @Option(names = "--attribute", paramLabel = "NAME=VALUE", description = "An attribute of the entry.")
    Map<String, String> attributes = new LinkedHashMap<>();

    @Override
    public Integer call() throws Exception {
        String namespace = ns.require();
        Lookup lookup = LookupCommand.lookup(key, step);
        CacheEntry.Builder entry = CacheEntry.builder(lookup.key()).attributes(attributes);
        lookup.step().ifPresent(entry::step);
        List<BlobUpload> uploads = new ArrayList<>();
        for (String spec : layers) {
            int at = spec.lastIndexOf('@');
            if (spec.startsWith("sha256:") && at > 0) {
                long size;
                try {
                    size = Long.parseLong(spec.substring(at + 1));
                } catch (NumberFormatException e) {
                    throw new CliException(ExitCodes.INVALID, "a blob layer is DIGEST@SIZE, not " + spec);
                }
                entry.layer(Layer.of(Digest.parse(spec.substring(0, at)), size, mediaType));
            } else {
                Path file = Path.of(spec);
                if (!Files.isRegularFile(file)) {
                    throw new CliException(ExitCodes.INVALID, "no layer file " + spec);
                }
                BlobUpload u = BlobUpload.ofFile(file);
                uploads.add(u);
                entry.layer(Layer.of(u.digest(), u.size(), mediaType));
            }
        }
        Progress progress = Progress.forTerminal(spec.commandLine().getErr(), global().verbose);
        try (LayerCacheClient client = global().connect(spec, progress)) {
            if (!uploads.isEmpty()) {
                progress.start("uploading layers", uploads.size(), uploads.stream().mapToLong(BlobUpload::size).sum());
                TransferSummary s;
                try {
                    s = client.uploadBlobs(namespace, uploads);
                } finally {
                    progress.finish();
                }
                if (global().verbose) {
                    spec.commandLine().getErr().println(s.transferred() + " layer(s) uploaded ("
                            + Terminal.bytes(s.bytes()) + "), " + s.skipped() + " already present");
                }
            }
            CacheEntry stored = client.putEntry(namespace, entry.build());
            spec.commandLine().getOut().println("published " + stored.key());
            spec.commandLine().getOut().flush();
        }
        return ExitCodes.OK;
    }

    private GlobalOptions global() {
        return GlobalOptions.of(spec);
    }
}
