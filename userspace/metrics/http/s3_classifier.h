// The S3 REST operation and bucket of an HTTP request, so traffic to object
// stores (AWS S3, MinIO, Ceph RGW, ...) is reported per operation instead of
// per object path, which would be one route per object.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace redeye::metrics::http {

struct S3Request {
  std::string_view method;  // "GET", "PUT", ... (HTTP methods are case-sensitive)
  std::string_view path;    // without the query; a query left in it is used if `query` is empty
  std::string_view query;   // without the '?': "partNumber=1&uploadId=abc"
  std::string_view host;    // Host header, a port allowed
  // Evidence that this is S3 at all; without any of them nothing is classified.
  bool aws_sigv4 = false;              // Authorization: AWS4-HMAC-SHA256 ... or X-Amz-Signature
  bool amz_headers = false;            // x-amz-* request headers
  bool host_configured_as_s3 = false;  // the operator named this host an S3 endpoint
};

struct S3Operation {
  // PutObject, UploadPart, GetObject, HeadObject, DeleteObject, ListObjects,
  // CreateMultipartUpload, CompleteMultipartUpload, or Other.
  std::string operation;
  // At most 63 characters of [a-z0-9.-] (upper case is folded, anything else
  // becomes '-'); empty when the request names no bucket.
  std::string bucket;
};

// The bucket comes from a virtual-hosted-style host ("photos.s3.amazonaws.com",
// "photos.s3.eu-west-1.amazonaws.com", "my.photos.s3-accelerate.amazonaws.com":
// everything before the first ".s3." or ".s3-"), the whole path then being the
// key; otherwise from a path-style URL ("/photos/2024/cat.jpg"). Requests that
// address a sub-resource (?acl, ?tagging, ?versions, ...) are "Other", as is
// everything at the service level ("GET /").
std::optional<S3Operation> classify_s3(const S3Request& request);

}  // namespace redeye::metrics::http
