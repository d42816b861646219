package dev.layercache.server.http;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;

/** The request target (path and query) of a request line, read the way clients mean it. */
final class RequestTarget {
    private RequestTarget() {
    }

    /**
     * The request target as the client wrote it. The codec reads the request line as ISO-8859-1,
     * one char per byte; a client that puts a name or tag in the path as raw UTF-8 (not
     * percent-encoded) means UTF-8, and an error that names it must carry that text, not the
     * UTF-8 of its ISO-8859-1 reading. Bytes that are not UTF-8 are left as they were read.
     */
    static String decode(String latin1) {
        for (int i = 0; i < latin1.length(); i++) {
            if (latin1.charAt(i) >= 0x80) {
                try {
                    return StandardCharsets.UTF_8.newDecoder()
                            .decode(ByteBuffer.wrap(latin1.getBytes(StandardCharsets.ISO_8859_1))).toString();
                } catch (CharacterCodingException notUtf8) {
                    return latin1;
                }
            }
        }
        return latin1;
    }
}
