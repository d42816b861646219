package dev.layercache.client;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import com.google.protobuf.TextFormat;
import dev.layercache.api.v1.ExplainBuildRequest;
import dev.layercache.client.internal.Protos;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * A build's lookups saved to a file, for {@code layercache explain --lookups FILE} or any other
 * program: the {@code layercache.v1.ExplainBuildRequest} message in protobuf text format, which
 * every protobuf implementation reads.
 *
 * @param namespace the namespace of the build
 * @param lookups the lookups, in build order
 */
public record BuildRecord(String namespace, List<Lookup> lookups) {

    /** Validates and copies the fields. */
    public BuildRecord {
        requireNonNull(namespace, "namespace");
        lookups = List.copyOf(requireNonNull(lookups, "lookups"));
    }

    /** The record of the steps of a build. */
    public static BuildRecord ofSteps(String namespace, List<Step> steps) {
        requireNonNull(steps, "steps");
        return new BuildRecord(namespace, steps.stream().map(Lookup::of).toList());
    }

    /** Writes the record (atomically replacing {@code file}). */
    public void write(Path file) throws IOException {
        requireNonNull(file, "file");
        ExplainBuildRequest.Builder request = ExplainBuildRequest.newBuilder().setNamespace(namespace);
        lookups.forEach(l -> request.addSteps(Protos.toProto(l)));
        Path abs = file.toAbsolutePath();
        Path temp = abs.resolveSibling("." + abs.getFileName() + ".tmp");
        Files.writeString(temp, "# layercache.v1.ExplainBuildRequest\n"
                + TextFormat.printer().escapingNonAscii(false).printToString(request.build()), UTF_8);
        Files.move(temp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Reads a record.
     *
     * @throws IllegalArgumentException when the file is not a valid record
     */
    public static BuildRecord read(Path file) throws IOException {
        requireNonNull(file, "file");
        ExplainBuildRequest.Builder request = ExplainBuildRequest.newBuilder();
        try {
            TextFormat.merge(Files.readString(file, UTF_8), request);
            return new BuildRecord(request.getNamespace(),
                    request.getStepsList().stream().map(Protos::fromProto).toList());
        } catch (TextFormat.ParseException e) {
            throw new IllegalArgumentException(file + " is not a build record: " + e.getMessage(), e);
        }
    }
}
