import Foundation
import Testing
import BrineRemote

/// AWS Signature Version 4 against AWS's published test suite
/// ("Signature Version 4 Test Suite", AWS General Reference; credentials
/// AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1,
/// service "service", 20150830T123600Z). Each case checks the
/// Authorization header; two also check the canonical request and the
/// string to sign.
@Suite("SigV4: AWS test suite vectors")
struct SigV4Tests {
    let signer = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    let date = "20150830T123600Z"
    let host = ("host", "example.amazonaws.com")

    func authz(_ method: String, _ path: String, _ query: [(String, String)] = [], extra: [(String, String)] = [], body: String = "") -> String {
        signer.authorization(method: method, path: path, query: query, headers: [host, ("x-amz-date", date)] + extra,
                             payloadHash: SigV4Signer.sha256Hex(Array(body.utf8)), amzDate: date)
    }

    static func expected(_ signedHeaders: String, _ signature: String) -> String {
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    @Test("get-vanilla-query-order-key: canonical request, string to sign, signature")
    func queryOrderKey() {
        let query = [("Param1", "value2"), ("Param1", "Value1")]
        let creq = signer.canonicalRequest(method: "GET", path: "/", query: query, headers: [host, ("x-amz-date", date)],
                                           payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(creq.request == "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(signer.stringToSign(canonicalRequest: creq.request, amzDate: date)
            == "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89")
        #expect(authz("GET", "/", query) == Self.expected("host;x-amz-date", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"))
    }

    @Test("post-vanilla and post-vanilla-empty-query-value")
    func postVanilla() {
        #expect(authz("POST", "/") == Self.expected("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"))
        #expect(authz("POST", "/", [("Param1", "value1")]) == Self.expected("host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"))
    }

    @Test("get-vanilla-query-unreserved: unreserved characters are not encoded")
    func unreserved() {
        let s = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        #expect(authz("GET", "/", [(s, s)]) == Self.expected("host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"))
    }

    @Test("get-utf8: a UTF-8 path is percent-encoded")
    func utf8Path() {
        #expect(authz("GET", "/ሴ") == Self.expected("host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"))
    }

    @Test("post-x-www-form-urlencoded-parameters: a signed body and content type")
    func formBody() {
        let got = authz("POST", "/", extra: [("Content-Type", "application/x-www-form-urlencoded; charset=utf8")], body: "Param1=value1")
        #expect(got == Self.expected("content-type;host;x-amz-date", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"))
    }

    @Test("post-sts-header-before: the session token is signed")
    func sessionToken() {
        let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
        #expect(authz("POST", "/", extra: [("X-Amz-Security-Token", token)])
            == Self.expected("host;x-amz-date;x-amz-security-token", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"))
    }

    @Test("credentials come from the standard AWS variables")
    func environment() {
        #expect(AWSCredentials.fromEnvironment([:]) == nil)
        let c = AWSCredentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": "t"])
        #expect(c == AWSCredentials(accessKeyID: "a", secretAccessKey: "b", sessionToken: "t"))
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 1_440_938_160)) == "20150830T123600Z")
    }
}
