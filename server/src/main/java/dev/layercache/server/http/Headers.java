package dev.layercache.server.http;

import io.netty.util.AsciiString;

/** Header names of the Distribution API that Netty does not define. */
final class Headers {
    static final AsciiString API_VERSION = AsciiString.cached("Docker-Distribution-Api-Version");
    static final AsciiString CONTENT_DIGEST = AsciiString.cached("Docker-Content-Digest");
    static final AsciiString UPLOAD_UUID = AsciiString.cached("Docker-Upload-UUID");
    static final AsciiString OCI_SUBJECT = AsciiString.cached("OCI-Subject");
    static final AsciiString LINK = AsciiString.cached("Link");
    static final AsciiString OCI_FILTERS_APPLIED = AsciiString.cached("OCI-Filters-Applied");

    private Headers() {
    }
}
