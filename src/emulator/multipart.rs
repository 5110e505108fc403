//! Reading a `multipart/form-data` body, as the agent's message endpoint
//! takes it: each part's name (from `Content-Disposition`) and its text.

/// The fields of a `multipart/form-data` body whose `Content-Type` is
/// `content_type`, in order; or why it cannot be read (the agent's 400).
pub(super) fn form_fields(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    let content_type = content_type.unwrap_or_default();
    let (media_type, parameters) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !media_type
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return Err(format!(
            "expected a multipart/form-data body, not {:?}",
            media_type.trim()
        ));
    }
    let boundary = parameters
        .split(';')
        .filter_map(|parameter| parameter.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|boundary| !boundary.is_empty())
        .ok_or("the multipart body has no boundary")?;
    let body = std::str::from_utf8(body).map_err(|_| "the multipart body is not UTF-8")?;
    let delimiter = format!("--{boundary}");
    let mut sections = body.split(delimiter.as_str());
    // Before the first delimiter: the preamble.
    sections.next();
    let mut fields = Vec::new();
    let mut closed = false;
    for section in sections {
        if section.starts_with("--") {
            closed = true;
            break;
        }
        let section = section
            .strip_prefix("\r\n")
            .ok_or("a multipart delimiter is not followed by a line break")?;
        let (head, value) = section
            .split_once("\r\n\r\n")
            .ok_or("a multipart part has no blank line after its headers")?;
        let value = value
            .strip_suffix("\r\n")
            .ok_or("a multipart part does not end with a line break")?;
        let name = head
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .find(|(header, _)| header.trim().eq_ignore_ascii_case("content-disposition"))
            .and_then(|(_, disposition)| field_name(disposition))
            .ok_or("a multipart part has no Content-Disposition name")?;
        fields.push((name, value.to_string()));
    }
    if !closed {
        return Err("the multipart body has no closing delimiter".to_string());
    }
    Ok(fields)
}

/// `name` of `form-data; name="message"`.
fn field_name(disposition: &str) -> Option<String> {
    disposition
        .split(';')
        .filter_map(|parameter| parameter.trim().split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case("name"))
        .map(|(_, value)| value.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parts_the_client_sends() {
        let body = "--b1\r\nContent-Disposition: form-data; name=\"message\"\r\n\
                    Content-Type: text/plain; charset=utf-8\r\n\r\n<messageML>a\r\nb</messageML>\r\n\
                    --b1\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{}\r\n--b1--\r\n";
        let content_type = "multipart/form-data; boundary=\"b1\"";
        let fields = form_fields(Some(content_type), body.as_bytes()).unwrap();
        assert_eq!(
            fields,
            [
                (
                    "message".to_string(),
                    "<messageML>a\r\nb</messageML>".to_string()
                ),
                ("data".to_string(), "{}".to_string())
            ]
        );
    }

    #[test]
    fn refuses_what_is_not_multipart() {
        assert!(form_fields(Some("application/json"), b"{}").is_err());
        assert!(form_fields(Some("multipart/form-data"), b"").is_err());
        let unclosed = b"--b\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nx\r\n";
        assert!(form_fields(Some("multipart/form-data; boundary=b"), unclosed).is_err());
    }
}
