//! Which environment variables are secrets, so that launch commands written to result files,
//! logs and the console never show them.
//!
//! Matching is by exact name or by a name *suffix* such as `_API_KEY`, never by substring:
//! upstream hid anything containing `TOKEN`, which also hid `TOKENIZERS_PARALLELISM`.

/// Exact names that hold credentials.
const SECRET_NAMES: [&str; 10] = [
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACE_TOKEN",
    "OPENAI_API_KEY",
    "API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GITHUB_TOKEN",
    "WANDB_API_KEY",
    "NGC_API_KEY",
];

/// Suffixes that mark a credential (`MY_SERVICE_API_KEY`, `DB_PASSWORD`, `CLIENT_SECRET`).
const SECRET_SUFFIXES: [&str; 8] = [
    "_TOKEN",
    "_API_KEY",
    "_APIKEY",
    "_SECRET",
    "_SECRET_KEY",
    "_PASSWORD",
    "_PASSWD",
    "_ACCESS_KEY",
];

/// True when an environment variable with this name must never be shown.
pub fn is_secret_env(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAMES.contains(&upper.as_str())
        || SECRET_SUFFIXES.iter().any(|suffix| upper.ends_with(suffix))
        || upper == "TOKEN"
        || upper == "PASSWORD"
        || upper == "SECRET"
}

/// The placeholder written instead of a secret value.
pub const REDACTED: &str = "<redacted>";

#[cfg(test)]
mod tests {
    use super::is_secret_env;

    #[test]
    fn hides_credentials_only() {
        for secret in [
            "HF_TOKEN",
            "OPENAI_API_KEY",
            "MY_SERVICE_API_KEY",
            "DB_PASSWORD",
            "X_SECRET",
            "hf_token",
        ] {
            assert!(is_secret_env(secret), "{secret} should be hidden");
        }
        for visible in [
            "TOKENIZERS_PARALLELISM",
            "CUDA_VISIBLE_DEVICES",
            "KEYBOARD",
            "NCCL_DEBUG",
            "MAX_TOKENS_PER_STEP",
        ] {
            assert!(!is_secret_env(visible), "{visible} should stay visible");
        }
    }
}
