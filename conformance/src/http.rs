//! A minimal HTTP/1.1 client over a tokio `TcpStream`, enough for an admin API.
//!
//! One request per connection (`Connection: close`), a JSON body, `Content-Length` or
//! chunked responses. No TLS, no redirects, no keep-alive.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::target::parse_url;

/// A response: status code and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body, decoded as UTF-8 (lossily).
    pub body: String,
}

/// Largest response the client reads.
const MAX_RESPONSE: usize = 4 << 20;

/// Sends `method url` with an optional JSON body and reads the whole response.
pub async fn request(
    method: &str,
    url: &str,
    body: Option<&str>,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    tokio::time::timeout(timeout, request_inner(method, url, body))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no response within {} ms", timeout.as_millis()),
            )
        })?
}

async fn request_inner(method: &str, url: &str, body: Option<&str>) -> io::Result<HttpResponse> {
    let url =
        parse_url(url, "http").map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
    let mut stream = TcpStream::connect((url.host.as_str(), url.port)).await?;
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: dcrf-conformance\r\nAccept: application/json\r\nConnection: close\r\n",
        url.path, url.host, url.port
    );
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    } else if matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    if let Some(body) = body {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.flush().await?;

    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..read]);
        if raw.len() > MAX_RESPONSE {
            return Err(invalid("response too large"));
        }
        if let Some(response) = try_parse(&raw)? {
            return Ok(response);
        }
    }
    try_parse(&raw)?.map_or_else(
        || {
            // Closed without a length: the body runs to the end of the stream.
            let (status, _, body_start) =
                parse_head(&raw)?.ok_or_else(|| invalid("truncated response head"))?;
            Ok(HttpResponse {
                status,
                body: String::from_utf8_lossy(&raw[body_start..]).into_owned(),
            })
        },
        Ok,
    )
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

/// Status, headers (names lowercased) and the offset of the body.
type Head = (u16, Vec<(String, String)>, usize);

/// Parses the status line and headers.
fn parse_head(raw: &[u8]) -> io::Result<Option<Head>> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(invalid("not an HTTP/1.x response"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Some((status, headers, end + 4)))
}

/// A complete response from `raw`, or None when more bytes are needed.
fn try_parse(raw: &[u8]) -> io::Result<Option<HttpResponse>> {
    let Some((status, headers, body_start)) = parse_head(raw)? else {
        return Ok(None);
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = &raw[body_start..];
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some(HttpResponse {
            status,
            body: String::new(),
        }));
    }
    if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return Ok(decode_chunked(body)?.map(|body| HttpResponse {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        }));
    }
    if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| invalid("bad content-length"))?;
        if body.len() >= length {
            return Ok(Some(HttpResponse {
                status,
                body: String::from_utf8_lossy(&body[..length]).into_owned(),
            }));
        }
    }
    Ok(None)
}

/// Decodes a chunked body; None when it is not complete yet.
fn decode_chunked(mut body: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if body.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked() {
        let raw = b"HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
        let response = try_parse(raw).expect("parses").expect("complete");
        assert_eq!(response.status, 201);
        assert_eq!(response.body, "{\"a\":1}");
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let response = try_parse(raw).expect("parses").expect("complete");
        assert_eq!(response.body, "abcde");
        assert!(
            try_parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
                .expect("parses")
                .is_none()
        );
        assert!(try_parse(b"SSH-2.0\r\n\r\n").is_err());
        let raw = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            try_parse(raw).expect("parses").expect("complete").status,
            204
        );
    }
}
