"""A boto3 client making real, SigV4-signed S3 requests against the local
s3rver, for the S3 kernel test. Run with Debian's python (/usr/bin/python3,
which sees python3-boto3):

    client.py PORT BUCKET PUTS GETS HEADS OBJECT_SIZE tag=...

Creates BUCKET, puts PUTS objects of OBJECT_SIZE bytes (every other one
from a file, so with "Expect: 100-continue"), gets GETS of them
(reading each body fully), heads HEADS, deletes one, lists the bucket once.
Prints one JSON object: the count of requests per operation and status as
this client saw them, and the bytes it sent and received as object data.
Fails if any request was retried: each operation is exactly one request.
"""
import collections
import io
import json
import os
import sys

# Nothing from the machine's AWS setup: no config or credentials files, no
# instance metadata.
os.environ.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                  AWS_EC2_METADATA_DISABLED="true")
for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(name, None)

import boto3  # noqa: E402
import botocore  # noqa: E402
from botocore.config import Config  # noqa: E402


def main():
    port, bucket = int(sys.argv[1]), sys.argv[2]
    puts, gets, heads, size = map(int, sys.argv[3:7])
    options = dict(
        signature_version="s3v4",
        region_name="us-east-1",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1, "mode": "standard"},  # one attempt: no retries
        connect_timeout=5,
        read_timeout=20,
    )
    # botocore 1.36 and later add CRC checksums to uploads by default (as a
    # header over http, as an aws-chunked trailer over https): ask for them
    # only where an operation requires one, so PUT bodies are the object.
    if tuple(int(p) for p in botocore.__version__.split(".")[:2]) >= (1, 36):
        options.update(request_checksum_calculation="when_required",
                       response_checksum_validation="when_required")
    # s3rver's built-in credentials: it verifies every signature with them.
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="S3RVER",
        aws_secret_access_key="S3RVER", config=Config(**options))

    seen = collections.Counter()
    sent = received = 0

    def record(operation, response):
        meta = response["ResponseMetadata"]
        if meta.get("RetryAttempts", 0):
            raise SystemExit(f"{operation} was retried: {meta}")
        seen[f"{operation} {meta['HTTPStatusCode']}"] += 1
        return response

    record("CreateBucket", s3.create_bucket(Bucket=bucket))
    keys = [f"objects/{i}.bin" for i in range(puts)]
    for i, key in enumerate(keys):
        body = bytes([i % 256]) * size
        # Both ways boto3 sends a body, each with its Content-Length: bytes go
        # out with the head in one write; a file waits for the server's
        # "100 Continue" first ("Expect: 100-continue"), then follows.
        record("PutObject", s3.put_object(Bucket=bucket, Key=key, Body=io.BytesIO(body) if i % 2 else body))
        sent += len(body)
    for i in range(gets):
        response = record("GetObject", s3.get_object(Bucket=bucket, Key=keys[i % puts]))
        data = response["Body"].read()
        if data != bytes([i % puts % 256]) * size:
            raise SystemExit(f"GetObject {keys[i % puts]}: {len(data)} bytes, not the object put")
        received += len(data)
    for i in range(heads):
        response = record("HeadObject", s3.head_object(Bucket=bucket, Key=keys[i % puts]))
        if response["ContentLength"] != size:
            raise SystemExit(f"HeadObject {keys[i % puts]}: length {response['ContentLength']}")
    record("DeleteObject", s3.delete_object(Bucket=bucket, Key=keys[-1]))
    listing = record("ListObjects", s3.list_objects_v2(Bucket=bucket))
    if listing.get("KeyCount") != puts - 1:
        raise SystemExit(f"ListObjectsV2 found {listing.get('KeyCount')} objects, not {puts - 1}")
    print(json.dumps({"requests": dict(seen), "sent": sent, "received": received,
                      "botocore": botocore.__version__}))


if __name__ == "__main__":
    main()
