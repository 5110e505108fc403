//! What the agent checks of a message before it takes it: MessageML that is
//! well-formed XML whose root is `<messageML>`, and no Freemarker marker
//! (`${`, `#{`) left unescaped, since the agent runs its templating first.
//! A small XML reader of its own (elements, attributes, text, the five
//! named entities and character references): what groupsync sends needs
//! nothing more, and anything else is refused as the agent would.

/// Why a message is refused (the agent's 400), or `Ok` with the root's name.
pub(super) fn check_messageml(text: &str) -> Result<(), String> {
    if let Some(at) = text.find("${").or_else(|| text.find("#{")) {
        return Err(format!(
            "Error processing Freemarker template: an unescaped `{}` at byte {at}",
            &text[at..at + 2]
        ));
    }
    let mut reader = Reader {
        text,
        at: 0,
        open: Vec::new(),
    };
    reader.skip_space();
    let root = reader.element()?;
    if root != "messageML" {
        return Err(format!(
            "the root element must be <messageML>, not <{root}>"
        ));
    }
    reader.skip_space();
    if reader.at != text.len() {
        return Err(format!(
            "content after the root element at byte {}",
            reader.at
        ));
    }
    Ok(())
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
    open: Vec<&'a str>,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len();
    }

    fn error<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("malformed MessageML at byte {}: {what}", self.at))
    }

    /// One element, from its `<` to the end of its closing tag; its name.
    fn element(&mut self) -> Result<&'a str, String> {
        if !self.rest().starts_with('<') {
            return self.error("expected an element");
        }
        self.at += 1;
        let name = self.name()?;
        loop {
            self.skip_space();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.at += 2;
                return Ok(name);
            }
            if rest.starts_with('>') {
                self.at += 1;
                break;
            }
            self.attribute()?;
        }
        self.open.push(name);
        self.content()?;
        // `content` stopped at `</`.
        self.at += 2;
        let closing = self.name()?;
        self.skip_space();
        if closing != name || !self.rest().starts_with('>') {
            return self.error(&format!("<{name}> is closed by </{closing}>"));
        }
        self.at += 1;
        self.open.pop();
        Ok(name)
    }

    /// Text and elements up to the `</` that closes the element open.
    fn content(&mut self) -> Result<(), String> {
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return self.error(&format!(
                    "<{}> is never closed",
                    self.open.last().unwrap_or(&"?")
                ));
            }
            if rest.starts_with("</") {
                return Ok(());
            }
            if rest.starts_with('<') {
                self.element()?;
                continue;
            }
            let c = rest.chars().next().unwrap_or_default();
            match c {
                '&' => self.reference()?,
                '>' => return self.error("a bare `>` in text"),
                c if !xml_char(c) => {
                    return self.error(&format!("U+{:04X} cannot be in XML", u32::from(c)));
                }
                c => self.at += c.len_utf8(),
            }
        }
    }

    /// `name="value"` (or single quotes).
    fn attribute(&mut self) -> Result<(), String> {
        self.name()?;
        self.skip_space();
        if !self.rest().starts_with('=') {
            return self.error("an attribute without a value");
        }
        self.at += 1;
        self.skip_space();
        let quote = match self.rest().chars().next() {
            Some(quote @ ('"' | '\'')) => quote,
            _ => return self.error("an attribute value without quotes"),
        };
        self.at += 1;
        loop {
            let Some(c) = self.rest().chars().next() else {
                return self.error("an attribute value is never closed");
            };
            match c {
                c if c == quote => {
                    self.at += 1;
                    return Ok(());
                }
                '&' => self.reference()?,
                '<' => return self.error("a `<` in an attribute value"),
                c if !xml_char(c) => return self.error("a character XML cannot hold"),
                c => self.at += c.len_utf8(),
            }
        }
    }

    /// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&#123;`, `&#x7B;`.
    fn reference(&mut self) -> Result<(), String> {
        let rest = self.rest();
        let Some(end) = rest.find(';').filter(|end| *end <= 12) else {
            return self.error("a bare `&`");
        };
        let body = &rest[1..end];
        let valid = match body.strip_prefix('#') {
            Some(number) => {
                let value = match number.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => number.parse::<u32>().ok(),
                };
                value.and_then(char::from_u32).is_some_and(xml_char)
            }
            None => matches!(body, "amp" | "lt" | "gt" | "quot" | "apos"),
        };
        if !valid {
            return self.error(&format!("unknown entity `&{body};`"));
        }
        self.at += end + 1;
        Ok(())
    }

    fn name(&mut self) -> Result<&'a str, String> {
        let rest = self.rest();
        let length = rest
            .find(|c: char| !(c.is_alphanumeric() || "-_.:".contains(c)))
            .unwrap_or(rest.len());
        if length == 0 || !rest.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            return self.error("expected a name");
        }
        self.at += length;
        Ok(&rest[..length])
    }
}

/// A character XML 1.0 can hold.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_well_formed_messageml() {
        for good in [
            "<messageML>hello</messageML>",
            " <messageML><p>a &amp; b &#123; &#x7B;</p><br/><card accent=\"x\"><header>h</header></card></messageML>\n",
            "<messageML><table><tr><td a='1'>&lt;/messageML&gt;</td></tr></table></messageML>",
        ] {
            assert_eq!(check_messageml(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn refuses_what_the_agent_refuses() {
        for bad in [
            "",
            "hello",
            "<p>not the root</p>",
            "<messageML>unclosed",
            "<messageML><p>crossed</messageML></p>",
            "<messageML></messageML></messageML>",
            "<messageML>a & b</messageML>",
            "<messageML>a &nbsp; b</messageML>",
            "<messageML>${x}</messageML>",
            "<messageML>#{x}</messageML>",
            "<messageML>a < b</messageML>",
            "<messageML>\u{1b}[31m</messageML>",
            "<messageML><p a=1>x</p></messageML>",
            "<messageML><!-- c --></messageML>",
        ] {
            assert!(check_messageml(bad).is_err(), "{bad:?}");
        }
    }
}
