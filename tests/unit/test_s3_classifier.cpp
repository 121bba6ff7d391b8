#include "metrics/http/s3_classifier.h"

#include <gtest/gtest.h>

#include <string>

namespace redeye::metrics::http {
namespace {

S3Request signed_request(std::string_view method, std::string_view path, std::string_view query = "",
                         std::string_view host = "s3.amazonaws.com") {
  S3Request request;
  request.method = method;
  request.path = path;
  request.query = query;
  request.host = host;
  request.aws_sigv4 = true;
  return request;
}

// "Operation bucket", or "not S3".
std::string describe(const S3Request& request) {
  const auto operation = classify_s3(request);
  if (!operation) return "not S3";
  return operation->operation + " " + operation->bucket;
}

TEST(S3Classifier, PathStyleOperations) {
  EXPECT_EQ(describe(signed_request("PUT", "/photos/2024/cat.jpg")), "PutObject photos");
  EXPECT_EQ(describe(signed_request("PUT", "/photos/cat.jpg", "partNumber=3&uploadId=abc")),
            "UploadPart photos");
  EXPECT_EQ(describe(signed_request("PUT", "/photos/cat.jpg", "uploadId=abc&partNumber=3")),
            "UploadPart photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos/cat.jpg")), "GetObject photos");
  EXPECT_EQ(describe(signed_request("HEAD", "/photos/cat.jpg")), "HeadObject photos");
  EXPECT_EQ(describe(signed_request("DELETE", "/photos/cat.jpg")), "DeleteObject photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos")), "ListObjects photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos/")), "ListObjects photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos", "list-type=2&prefix=2024/&max-keys=100")),
            "ListObjects photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos", "prefix=2024/&delimiter=/")), "ListObjects photos");
  EXPECT_EQ(describe(signed_request("POST", "/photos/big.bin", "uploads")), "CreateMultipartUpload photos");
  EXPECT_EQ(describe(signed_request("POST", "/photos/big.bin", "uploads=")), "CreateMultipartUpload photos");
  EXPECT_EQ(describe(signed_request("POST", "/photos/big.bin", "uploadId=abc")),
            "CompleteMultipartUpload photos");
}

TEST(S3Classifier, VirtualHostedStyleOperations) {
  const std::string_view host = "photos.s3.amazonaws.com";
  EXPECT_EQ(describe(signed_request("PUT", "/2024/cat.jpg", "", host)), "PutObject photos");
  EXPECT_EQ(describe(signed_request("PUT", "/cat.jpg", "partNumber=1&uploadId=x", host)), "UploadPart photos");
  EXPECT_EQ(describe(signed_request("GET", "/cat.jpg", "", host)), "GetObject photos");
  EXPECT_EQ(describe(signed_request("HEAD", "/cat.jpg", "", host)), "HeadObject photos");
  EXPECT_EQ(describe(signed_request("DELETE", "/cat.jpg", "", host)), "DeleteObject photos");
  EXPECT_EQ(describe(signed_request("GET", "/", "", host)), "ListObjects photos");
  EXPECT_EQ(describe(signed_request("GET", "", "list-type=2", host)), "ListObjects photos");
  EXPECT_EQ(describe(signed_request("POST", "/big.bin", "uploads", host)), "CreateMultipartUpload photos");
  EXPECT_EQ(describe(signed_request("POST", "/big.bin", "uploadId=x", host)), "CompleteMultipartUpload photos");
}

TEST(S3Classifier, VirtualHostedStyleHosts) {
  EXPECT_EQ(describe(signed_request("GET", "/k", "", "photos.s3.eu-west-1.amazonaws.com")), "GetObject photos");
  EXPECT_EQ(describe(signed_request("GET", "/k", "", "photos.s3.eu-west-1.amazonaws.com:443")),
            "GetObject photos");
  EXPECT_EQ(describe(signed_request("GET", "/k", "", "photos.s3-eu-west-1.amazonaws.com")), "GetObject photos");
  EXPECT_EQ(describe(signed_request("GET", "/k", "", "my.photos.s3.amazonaws.com")), "GetObject my.photos");
  EXPECT_EQ(describe(signed_request("GET", "/k", "", "Photos.S3.Amazonaws.com")), "GetObject photos");
  // In virtual-hosted style the whole path is the key, even its first segment.
  EXPECT_EQ(describe(signed_request("GET", "/photos", "", "media.s3.amazonaws.com")), "GetObject media");
  // The regional endpoint itself is path style.
  EXPECT_EQ(describe(signed_request("GET", "/photos/k", "", "s3.eu-west-1.amazonaws.com")), "GetObject photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos/k", "", "minio.local:9000")), "GetObject photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos/k", "", "[::1]:9000")), "GetObject photos");
}

TEST(S3Classifier, EveryKindOfEvidenceCounts) {
  S3Request request = signed_request("GET", "/photos/cat.jpg");
  request.aws_sigv4 = false;
  EXPECT_EQ(describe(request), "not S3");
  request.amz_headers = true;
  EXPECT_EQ(describe(request), "GetObject photos");
  request.amz_headers = false;
  request.host_configured_as_s3 = true;
  EXPECT_EQ(describe(request), "GetObject photos");
}

TEST(S3Classifier, PlainGetIsNotS3) {
  S3Request request;
  request.method = "GET";
  request.path = "/photos/cat.jpg";
  request.host = "photos.s3.amazonaws.com";
  EXPECT_EQ(classify_s3(request), std::nullopt);
}

TEST(S3Classifier, SubresourcesAndOtherRequestsAreOther) {
  EXPECT_EQ(describe(signed_request("GET", "/photos/cat.jpg", "acl")), "Other photos");
  EXPECT_EQ(describe(signed_request("PUT", "/photos/cat.jpg", "tagging")), "Other photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos/cat.jpg", "uploadId=abc")), "Other photos");  // ListParts
  EXPECT_EQ(describe(signed_request("DELETE", "/photos/cat.jpg", "uploadId=abc")), "Other photos");  // Abort
  EXPECT_EQ(describe(signed_request("PUT", "/photos/cat.jpg", "uploadId=abc")), "Other photos");  // no part
  EXPECT_EQ(describe(signed_request("POST", "/photos/cat.jpg", "restore")), "Other photos");
  EXPECT_EQ(describe(signed_request("PATCH", "/photos/cat.jpg")), "Other photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos", "versioning")), "Other photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos", "uploads")), "Other photos");  // ListMultipartUploads
  EXPECT_EQ(describe(signed_request("PUT", "/photos")), "Other photos");             // CreateBucket
  EXPECT_EQ(describe(signed_request("HEAD", "/photos")), "Other photos");            // HeadBucket
  EXPECT_EQ(describe(signed_request("DELETE", "/photos")), "Other photos");          // DeleteBucket
  EXPECT_EQ(describe(signed_request("POST", "/photos", "delete")), "Other photos");  // DeleteObjects
  EXPECT_EQ(describe(signed_request("GET", "/")), "Other ");                         // ListBuckets
  EXPECT_EQ(describe(signed_request("GET", "")), "Other ");
}

TEST(S3Classifier, QualifyingParametersKeepTheOperation) {
  EXPECT_EQ(describe(signed_request("GET", "/photos/cat.jpg", "versionId=3&partNumber=2")), "GetObject photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos/cat.jpg", "response-content-type=image/jpeg")),
            "GetObject photos");
  // A presigned URL: the signature travels in the query.
  EXPECT_EQ(describe(signed_request("PUT", "/photos/cat.jpg",
                                    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Signature=b")),
            "PutObject photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos/cat.jpg", "x-id=GetObject")), "GetObject photos");
}

TEST(S3Classifier, QueryLeftInThePathIsUsed) {
  EXPECT_EQ(describe(signed_request("PUT", "/photos/cat.jpg?partNumber=1&uploadId=x")), "UploadPart photos");
  EXPECT_EQ(describe(signed_request("GET", "/photos?list-type=2")), "ListObjects photos");
  EXPECT_EQ(describe(signed_request("POST", "/photos/cat.jpg?uploads")), "CreateMultipartUpload photos");
}

TEST(S3Classifier, BucketIsSanitizedAndCapped) {
  EXPECT_EQ(describe(signed_request("GET", "/My_Photos/k")), "GetObject my-photos");
  EXPECT_EQ(describe(signed_request("GET", "/a%20b/k")), "GetObject a-20b");
  const std::string long_bucket(80, 'b');
  const std::string path = "/" + long_bucket + "/k";
  EXPECT_EQ(describe(signed_request("GET", path)), "GetObject " + std::string(63, 'b'));
}

}  // namespace
}  // namespace redeye::metrics::http
