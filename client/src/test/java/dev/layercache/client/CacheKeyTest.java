package dev.layercache.client;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The documented key encoding: its test vector, and what does and does not change a key. */
class CacheKeyTest {
    private static final Digest HELLO = Digest.parse(
            "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    private static final Digest OTHER = Digest.sha256("other\n".getBytes(UTF_8));
    private static final CacheKey PARENT = CacheKey.parse("sha256:" + "ab".repeat(32));

    @TempDir
    Path dir;

    @Test
    void theJavadocTestVector() {
        List<StepInput> inputs = List.of(StepInput.of("a.txt", 0644, HELLO));
        byte[] encoding = CacheKey.canonicalEncoding(Optional.empty(), "RUN echo hi", inputs);
        assertEquals("layercache-cache-key-v1\n"
                + "parent:\n"
                + "instruction:11:RUN echo hi\n"
                + "inputs:1\n"
                + "input:0644:sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03:5:a.txt\n",
                new String(encoding, UTF_8));
        assertEquals("sha256:c6ef3d11fca3e0863b5adefbba9d9641a620d532b3a39bf224438908fd00934b",
                CacheKey.compute(Optional.empty(), "RUN echo hi", inputs).toString());
        assertEquals(HELLO, Digest.sha256("hello\n".getBytes(UTF_8)));
    }

    @Test
    void encodingOfParentLengthsAndNonAscii() {
        String instruction = "RUN printf 'é\\n'\nsecond line";
        List<StepInput> inputs = List.of(StepInput.of("dir/ü.txt", 04755, HELLO), StepInput.of("b", 0600, OTHER));
        String text = new String(CacheKey.canonicalEncoding(Optional.of(PARENT), instruction, inputs), UTF_8);
        int instructionBytes = instruction.getBytes(UTF_8).length;
        assertEquals("layercache-cache-key-v1\n"
                + "parent:" + PARENT + "\n"
                + "instruction:" + instructionBytes + ":" + instruction + "\n"
                + "inputs:2\n"
                + "input:0600:" + OTHER + ":1:b\n"
                + "input:4755:" + HELLO + ":10:dir/ü.txt\n", text);
    }

    @Test
    void stableAndIndependentOfInputOrder() {
        List<StepInput> inputs = new ArrayList<>();
        Random random = new Random(7);
        for (int i = 0; i < 50; i++) {
            byte[] content = new byte[16];
            random.nextBytes(content);
            inputs.add(StepInput.of("src/file-" + i + ".txt", i % 2 == 0 ? 0644 : 0755, Digest.sha256(content)));
        }
        CacheKey first = CacheKey.compute(Optional.of(PARENT), "COPY src /app/src", inputs);
        for (int round = 0; round < 5; round++) {
            Collections.shuffle(inputs, random);
            assertEquals(first, CacheKey.compute(Optional.of(PARENT), "COPY src /app/src", inputs));
        }
        assertEquals(first, Step.builder("s").parent(PARENT).instruction("COPY src /app/src").inputs(inputs)
                .build().key());
    }

    @Test
    void inputsSortByUtf8BytesNotUtf16() {
        // UTF-8 puts U+FF01 (EF BC 81) before U+1F600 (F0 9F 98 80); String.compareTo, on UTF-16
        // units, puts U+1F600 (0xD83D...) first. The encoding follows the UTF-8 bytes.
        StepInput fullwidth = StepInput.of("\uFF01", 0644, HELLO);
        StepInput emoji = StepInput.of("\uD83D\uDE00", 0644, HELLO);
        String text = new String(CacheKey.canonicalEncoding(Optional.empty(), "", List.of(emoji, fullwidth)), UTF_8);
        assertTrue(text.indexOf("\uFF01") < text.indexOf("\uD83D\uDE00"), text);
    }

    @Test
    void eachPartChangesTheKey() {
        List<StepInput> base = List.of(StepInput.of("a.txt", 0644, HELLO), StepInput.of("b.txt", 0644, OTHER));
        CacheKey key = CacheKey.compute(Optional.of(PARENT), "COPY . /app", base);
        // the mode of an input
        assertNotEquals(key, CacheKey.compute(Optional.of(PARENT), "COPY . /app",
                List.of(StepInput.of("a.txt", 0755, HELLO), StepInput.of("b.txt", 0644, OTHER))));
        // its content
        assertNotEquals(key, CacheKey.compute(Optional.of(PARENT), "COPY . /app",
                List.of(StepInput.of("a.txt", 0644, OTHER), StepInput.of("b.txt", 0644, OTHER))));
        // its path
        assertNotEquals(key, CacheKey.compute(Optional.of(PARENT), "COPY . /app",
                List.of(StepInput.of("a2.txt", 0644, HELLO), StepInput.of("b.txt", 0644, OTHER))));
        // one input fewer
        assertNotEquals(key, CacheKey.compute(Optional.of(PARENT), "COPY . /app", base.subList(0, 1)));
        // the instruction
        assertNotEquals(key, CacheKey.compute(Optional.of(PARENT), "COPY . /app/", base));
        // the parent, and no parent
        CacheKey otherParent = CacheKey.compute(Optional.empty(), "FROM scratch", List.of());
        assertNotEquals(key, CacheKey.compute(Optional.of(otherParent), "COPY . /app", base));
        assertNotEquals(key, CacheKey.compute(Optional.empty(), "COPY . /app", base));
    }

    @Test
    void modificationTimesDoNotMatterModeAndContentDo() throws Exception {
        Path context = Files.createDirectories(dir.resolve("ctx"));
        Path file = context.resolve("src/main.c");
        Files.createDirectories(file.getParent());
        Files.writeString(file, "int main() { return 0; }\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        Files.writeString(context.resolve("README"), "readme\n");
        Files.setPosixFilePermissions(context.resolve("README"), PosixFilePermissions.fromString("rw-r--r--"));

        List<StepInput> inputs = StepInput.fromPaths(context, List.of(Path.of("src"), Path.of("README")));
        assertEquals(List.of("README", "src/main.c"), inputs.stream().map(StepInput::path).toList());
        assertEquals(0644, inputs.get(1).mode());
        CacheKey before = CacheKey.compute(Optional.empty(), "COPY . /src", inputs);

        Files.setLastModifiedTime(file, FileTime.from(Instant.parse("2001-02-03T04:05:06Z")));
        assertEquals(before, CacheKey.compute(Optional.empty(), "COPY . /src",
                StepInput.fromPaths(context, List.of(Path.of("src"), Path.of("README")))), "mtime is ignored");

        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<StepInput> executable = StepInput.fromPaths(context, List.of(Path.of("src"), Path.of("README")));
        assertEquals(0755, executable.get(1).mode());
        assertNotEquals(before, CacheKey.compute(Optional.empty(), "COPY . /src", executable), "mode counts");

        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        Files.writeString(file, "int main() { return 1; }\n");
        assertNotEquals(before, CacheKey.compute(Optional.empty(), "COPY . /src",
                StepInput.fromPaths(context, List.of(Path.of("src"), Path.of("README")))), "content counts");

        // A copy of the context elsewhere (another checkout) gives the same key.
        Path copy = Files.createDirectories(dir.resolve("elsewhere/ctx"));
        Files.createDirectories(copy.resolve("src"));
        Files.writeString(copy.resolve("src/main.c"), "int main() { return 1; }\n");
        Files.setPosixFilePermissions(copy.resolve("src/main.c"), PosixFilePermissions.fromString("rw-r--r--"));
        Files.writeString(copy.resolve("README"), "readme\n");
        Files.setPosixFilePermissions(copy.resolve("README"), PosixFilePermissions.fromString("rw-r--r--"));
        assertEquals(CacheKey.compute(Optional.empty(), "COPY . /src",
                        StepInput.fromPaths(context, List.of(Path.of("src"), Path.of("README")))),
                CacheKey.compute(Optional.empty(), "COPY . /src",
                        StepInput.fromPaths(copy, List.of(Path.of("src"), Path.of("README")))));
    }

    @Test
    void invalidInputsAreRefused() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> StepInput.of("/abs", 0644, HELLO));
        assertThrows(IllegalArgumentException.class, () -> StepInput.of("a/../b", 0644, HELLO));
        assertThrows(IllegalArgumentException.class, () -> StepInput.of("a//b", 0644, HELLO));
        assertThrows(IllegalArgumentException.class, () -> StepInput.of("./a", 0644, HELLO));
        assertThrows(IllegalArgumentException.class, () -> StepInput.of("a/", 0644, HELLO));
        assertThrows(IllegalArgumentException.class, () -> StepInput.of("", 0644, HELLO));
        assertThrows(IllegalArgumentException.class, () -> StepInput.of("a", 010000, HELLO));
        assertThrows(NullPointerException.class, () -> StepInput.of("a", 0644, null));
        assertThrows(IllegalArgumentException.class, () -> CacheKey.compute(Optional.empty(), "x",
                List.of(StepInput.of("a", 0644, HELLO), StepInput.of("a", 0755, OTHER))), "duplicate path");
        assertThrows(IllegalArgumentException.class, () -> CacheKey.compute(Optional.empty(), "\uD800", List.of()),
                "lone surrogate");
        assertThrows(IllegalArgumentException.class, () -> CacheKey.parse("sha512:" + "a".repeat(128)));
        assertThrows(IllegalArgumentException.class, () -> CacheKey.parse("sha256:" + "A".repeat(64)));
        Path outside = Files.writeString(dir.resolve("outside.txt"), "x");
        Path context = Files.createDirectories(dir.resolve("context"));
        assertThrows(IllegalArgumentException.class, () -> StepInput.fromFile(context, outside));
    }

    @Test
    void digestsParseAndPrint() {
        Digest d = Digest.parse(HELLO.toString());
        assertEquals(HELLO, d);
        assertEquals("sha256:5891b5b522d5", d.shortForm());
        assertArrayEquals(HELLO.toString().getBytes(UTF_8), d.toString().getBytes(UTF_8));
        assertThrows(IllegalArgumentException.class, () -> Digest.parse("sha256:abc"));
        assertThrows(IllegalArgumentException.class, () -> Digest.parse("md5:" + "a".repeat(32)));
        assertEquals(Digest.Algorithm.SHA512, Digest.parse("sha512:" + "a".repeat(128)).algorithm());
    }
}
