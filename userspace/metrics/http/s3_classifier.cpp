#include "metrics/http/s3_classifier.h"

namespace redeye::metrics::http {

namespace {

constexpr size_t kMaxBucketBytes = 63;

// Query parameters that turn a request on a bucket or object into a
// different operation (GET ?acl is GetObjectAcl, not GetObject). Parameters
// that only qualify the operation (versionId, partNumber on GET, prefix,
// list-type, response-*, the X-Amz-* of presigned URLs) are not here.
constexpr std::string_view kSubresources[] = {
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption",
    "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging",
    "metrics", "notification", "object-lock", "ownershipControls", "policy", "policyStatus",
    "publicAccessBlock", "replication", "requestPayment", "restore", "retention", "select",
    "tagging", "torrent", "versioning", "versions", "website"};

// What of the query matters for telling operations apart.
struct QueryFlags {
  bool uploads = false;      // ?uploads: multipart upload creation (or listing, with GET)
  bool upload_id = false;    // ?uploadId=: a request within a multipart upload
  bool part_number = false;  // ?partNumber=
  bool other_subresource = false;
};

bool is_subresource(std::string_view name) {
  for (const std::string_view subresource : kSubresources) {
    if (name == subresource) return true;
  }
  return false;
}

QueryFlags scan_query(std::string_view query) {
  QueryFlags flags;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view parameter = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::string_view name = parameter.substr(0, parameter.find('='));
    if (name == "uploads") {
      flags.uploads = true;
    } else if (name == "uploadId") {
      flags.upload_id = true;
    } else if (name == "partNumber") {
      flags.part_number = true;
    } else if (is_subresource(name)) {
      flags.other_subresource = true;
    }
  }
  return flags;
}

char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The host without ":port" (and an IPv6 literal "[::1]:9000" without its port).
std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

// Where ".s3." or ".s3-" starts in the host (case-insensitively), after a
// non-empty bucket label; npos if nowhere.
size_t find_s3_label(std::string_view host) {
  for (size_t i = 1; i + 4 <= host.size(); ++i) {
    if (host[i] == '.' && to_lower(host[i + 1]) == 's' && host[i + 2] == '3' &&
        (host[i + 3] == '.' || host[i + 3] == '-')) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::string sanitize_bucket(std::string_view raw) {
  std::string bucket;
  const std::string_view capped = raw.substr(0, kMaxBucketBytes);
  bucket.reserve(capped.size());
  for (const char c : capped) {
    const char lower = to_lower(c);
    const bool allowed =
        (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') || lower == '.' || lower == '-';
    bucket += allowed ? lower : '-';
  }
  return bucket;
}

struct BucketAndKey {
  std::string_view bucket;
  std::string_view key;  // empty for a request on the bucket itself
};

std::string_view without_leading_slashes(std::string_view path) {
  const size_t first = path.find_first_not_of('/');
  return first == std::string_view::npos ? std::string_view{} : path.substr(first);
}

BucketAndKey locate(std::string_view host, std::string_view path) {
  const std::string_view relative = without_leading_slashes(path);
  const std::string_view hostname = strip_port(host);
  if (const size_t s3_label = find_s3_label(hostname); s3_label != std::string_view::npos) {
    return {hostname.substr(0, s3_label), relative};
  }
  const size_t slash = relative.find('/');
  if (slash == std::string_view::npos) return {relative, {}};
  return {relative.substr(0, slash), relative.substr(slash + 1)};
}

std::string_view bucket_operation(std::string_view method, const QueryFlags& query) {
  const bool plain = !query.uploads && !query.upload_id && !query.other_subresource;
  if (method == "GET" && plain) return "ListObjects";
  return "Other";
}

std::string_view object_operation(std::string_view method, const QueryFlags& query) {
  if (method == "POST") {
    if (query.uploads) return "CreateMultipartUpload";
    if (query.upload_id) return "CompleteMultipartUpload";
    return "Other";
  }
  if (method == "PUT" && query.upload_id && query.part_number) return "UploadPart";
  // Any other multipart or sub-resource request is some other operation
  // (ListParts, AbortMultipartUpload, PutObjectTagging, ...).
  if (query.uploads || query.upload_id || query.other_subresource) return "Other";
  if (method == "PUT") return "PutObject";
  if (method == "GET") return "GetObject";
  if (method == "HEAD") return "HeadObject";
  if (method == "DELETE") return "DeleteObject";
  return "Other";
}

}  // namespace

std::optional<S3Operation> classify_s3(const S3Request& request) {
  if (!request.aws_sigv4 && !request.amz_headers && !request.host_configured_as_s3) return std::nullopt;

  std::string_view path = request.path;
  std::string_view query = request.query;
  if (const size_t question = path.find('?'); question != std::string_view::npos) {
    if (query.empty()) query = path.substr(question + 1);
    path = path.substr(0, question);
  }
  path = path.substr(0, path.find('#'));
  query = query.substr(0, query.find('#'));

  const QueryFlags flags = scan_query(query);
  const BucketAndKey location = locate(request.host, path);
  S3Operation operation;
  if (location.bucket.empty()) {
    operation.operation = "Other";  // service level: ListBuckets and the like
  } else {
    operation.operation = location.key.empty() ? bucket_operation(request.method, flags)
                                               : object_operation(request.method, flags);
    operation.bucket = sanitize_bucket(location.bucket);
  }
  return operation;
}

}  // namespace redeye::metrics::http
