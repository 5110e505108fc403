//! RSA bot authentication: checking the RS512 JWT a bot signs with its private key.

use std::collections::HashMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// How far ahead a JWT may expire: the pod refuses longer-lived ones.
pub(super) const MAX_JWT_LIFETIME_SECS: u64 = 300;

/// The public key of every bot that may log in, by username.
pub(super) struct BotKeys {
    keys: HashMap<String, DecodingKey>,
}

/// The claims the pod reads; `sub` names the bot, `exp` is in epoch seconds.
/// Optional here so that a missing one is reported as such by the validation,
/// not as a failure to deserialize.
#[derive(Deserialize)]
struct Claims {
    exp: Option<u64>,
}

/// Only `sub`, read before the signature is checked to pick the key to check it with.
#[derive(Deserialize)]
struct Subject {
    sub: Option<String>,
}

impl BotKeys {
    /// Parses each bot's public key (PEM: `PUBLIC KEY` or `RSA PUBLIC KEY`).
    pub(super) fn new(bots: &[(String, String)]) -> Result<BotKeys, String> {
        let keys = bots
            .iter()
            .map(
                |(username, pem)| match DecodingKey::from_rsa_pem(pem.as_bytes()) {
                    Ok(key) => Ok((username.clone(), key)),
                    Err(err) => Err(format!(
                        "the public key of bot {username:?} is not an RSA PEM key: {err}"
                    )),
                },
            )
            .collect::<Result<_, _>>()?;
        Ok(BotKeys { keys })
    }

    /// The username a valid JWT authenticates, or why the pod answers 401.
    pub(super) fn verify(&self, jwt: &str) -> Result<String, String> {
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| "malformed JWT".to_owned())?;
        if header.alg != Algorithm::RS512 {
            return Err(format!(
                "the JWT is signed {:?}; the pod only accepts RS512",
                header.alg
            ));
        }
        let subject: Subject = jsonwebtoken::dangerous::insecure_decode_claims(jwt)
            .map_err(|_| "malformed JWT".to_owned())?;
        let username = subject
            .sub
            .ok_or("the JWT has no sub claim naming the bot")?;
        let key = self
            .keys
            .get(&username)
            .ok_or_else(|| format!("no user {username:?} with an imported public key"))?;
        let claims = jsonwebtoken::decode::<Claims>(jwt, key, &validation())
            .map_err(|err| rejection(&username, err.kind()))?
            .claims;
        // The validation has checked that `exp` is present and not past.
        if claims
            .exp
            .is_none_or(|exp| exp > now_secs() + MAX_JWT_LIFETIME_SECS)
        {
            return Err(format!(
                "the JWT expires more than {MAX_JWT_LIFETIME_SECS} s from now"
            ));
        }
        Ok(username)
    }
}

impl fmt::Debug for BotKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotKeys")
            .field("bots", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// RS512 only, `exp` and `sub` required, no leeway: an expired JWT is refused at once.
fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::RS512);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    // The pod ignores `aud`; the library would otherwise refuse any JWT that has one.
    validation.validate_aud = false;
    validation
}

fn rejection(username: &str, kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the JWT has expired".to_owned(),
        ErrorKind::InvalidSignature => {
            format!("the JWT signature does not match the public key of {username:?}")
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("the JWT has no {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the JWT's {claim} claim is malformed"),
        _ => "malformed JWT".to_owned(),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    fn bots() -> BotKeys {
        BotKeys::new(&[("bot".into(), fixture("bot-key.pub.pem"))]).unwrap()
    }

    fn sign(key_file: &str, claims: serde_json::Value) -> String {
        let key = EncodingKey::from_rsa_pem(fixture(key_file).as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::RS512), &claims, &key).unwrap()
    }

    #[test]
    fn accepts_a_fresh_jwt_signed_with_the_bot_key() {
        for key in ["bot-key.pem", "bot-key.pkcs8.pem"] {
            let jwt = sign(key, json!({"sub": "bot", "exp": now_secs() + 240}));
            assert_eq!(bots().verify(&jwt), Ok("bot".to_owned()));
        }
    }

    #[test]
    fn refuses_what_the_pod_refuses() {
        let now = now_secs();
        let cases = [
            (
                "wrong key",
                sign("wrong-key.pem", json!({"sub": "bot", "exp": now + 240})),
            ),
            (
                "unknown sub",
                sign("bot-key.pem", json!({"sub": "other", "exp": now + 240})),
            ),
            ("no sub", sign("bot-key.pem", json!({"exp": now + 240}))),
            ("no exp", sign("bot-key.pem", json!({"sub": "bot"}))),
            (
                "expired",
                sign("bot-key.pem", json!({"sub": "bot", "exp": now - 10})),
            ),
            (
                "too far ahead",
                sign("bot-key.pem", json!({"sub": "bot", "exp": now + 3600})),
            ),
            ("garbage", "not.a.jwt".to_owned()),
        ];
        for (case, jwt) in cases {
            assert!(bots().verify(&jwt).is_err(), "{case}");
        }
    }

    #[test]
    fn refuses_a_bad_public_key() {
        assert!(BotKeys::new(&[("bot".into(), "not a key".into())]).is_err());
    }
}
