package dev.layercache.server.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class DigestTest {

    @Test
    void parsesCanonicalSha256AndSha512() {
        String sha256 = "sha256:" + "a".repeat(64);
        assertEquals(sha256, Digest.parse(sha256).toString());
        assertEquals(Digest.Algorithm.SHA256, Digest.parse(sha256).algorithm());
        Digest sha512 = Digest.parse("sha512:" + "0123456789abcdef".repeat(8));
        assertEquals(Digest.Algorithm.SHA512, sha512.algorithm());
        assertEquals("0123456789abcdef".repeat(8), sha512.hex());
    }

    @Test
    void computesSha256OfContent() {
        assertEquals("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                Digest.sha256("hello".getBytes(StandardCharsets.UTF_8)).toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "", "sha256", "sha256:", ":abc", "sha256:abc",
        "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "sha256:gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg",
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "md5:d41d8cd98f00b204e9800998ecf8427e", "SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/", "sha512:abcd"
    })
    void rejectsNonCanonicalOrUnsupported(String text) {
        RegistryException e = assertThrows(RegistryException.class, () -> Digest.parse(text));
        assertEquals(ErrorCode.DIGEST_INVALID, e.code());
    }
}
