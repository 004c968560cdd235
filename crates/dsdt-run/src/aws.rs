//! The three AWS APIs `dsdt run` speaks, signed with SigV4 (aws-sigv4) and sent with ureq:
//! Batch (REST-JSON, `POST /v1/<operation>`), STS (the query protocol, XML answers) and ECR
//! (JSON 1.1, `X-Amz-Target`). Credentials, region and endpoints are found as the AWS CLI
//! finds them (store::Aws), so AWS_ENDPOINT_URL points all three at another server.

use anyhow::{anyhow, bail, Context as _, Result};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;
use std::time::{Duration, SystemTime};
use store::Aws;

pub struct Client {
    aws: Aws,
    region: String,
    agent: ureq::Agent,
}

/// Temporary credentials from STS.
#[derive(Debug, Clone)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl Client {
    /// The profile's (or the environment's) credentials and region; an error naming what is
    /// missing.
    pub fn new(profile: Option<&str>) -> Result<Client> {
        let aws = Aws::find(profile);
        let region = aws.region.clone().ok_or_else(|| {
            anyhow!(
                "no AWS region: set AWS_DEFAULT_REGION, or region in ~/.aws/config for profile {}",
                aws.profile
            )
        })?;
        if aws.access_key_id.is_none() || aws.secret_access_key.is_none() {
            bail!(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile {} keys in ~/.aws/credentials",
                aws.profile
            );
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        Ok(Client { aws, region, agent })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `service` names the endpoint variable (AWS_ENDPOINT_URL_<SERVICE>); `host` the start of
    /// AWS's own host name.
    fn endpoint(&self, service: &str, host: &str) -> String {
        Aws::endpoint(service)
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("https://{host}.{}.amazonaws.com", self.region))
    }

    /// Signs and sends one request; the answer's status and body.
    fn send(
        &self,
        service: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.endpoint(service, host));
        let identity = Credentials::new(
            self.aws.access_key_id.clone().unwrap_or_default(),
            self.aws.secret_access_key.clone().unwrap_or_default(),
            self.aws.session_token.clone(),
            None,
            "dsdt",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| anyhow!("signing a {service} request: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| anyhow!("signing a {service} request: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| anyhow!("signing a {service} request: {e}"))?
            .into_parts();
        let mut req = self.agent.post(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        let mut resp = req
            .send(body)
            .map_err(|e| anyhow!("{url}: no answer: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("{url}: reading the answer"))?;
        Ok((status, text))
    }

    /// A Batch operation (`submitjob`, …) with a JSON body; its JSON answer.
    pub fn batch(&self, operation: &str, body: &Value) -> Result<Value> {
        let bytes = serde_json::to_vec(body)?;
        let (status, text) = self.send(
            "batch",
            "batch",
            &format!("/v1/{operation}"),
            &[("content-type", "application/json")],
            &bytes,
        )?;
        json_answer("AWS Batch", operation, status, &text)
    }

    /// An ECR operation (`CreateRepository`, …); its JSON answer.
    pub fn ecr(&self, operation: &str, body: &Value) -> Result<Value> {
        let bytes = serde_json::to_vec(body)?;
        let target = format!("AmazonEC2ContainerRegistry_V20150921.{operation}");
        let (status, text) = self.send(
            "ecr",
            "api.ecr",
            "/",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", &target),
            ],
            &bytes,
        )?;
        json_answer("ECR", operation, status, &text)
    }

    /// The URI of ECR repository `name`; made when missing if `create` (as Disdat does before a
    /// run), else None when missing.
    pub fn ecr_repository(&self, name: &str, create: bool) -> Result<Option<String>> {
        let code_is = |e: &anyhow::Error, code: &str| {
            e.downcast_ref::<ApiError>().is_some_and(|a| a.code == code)
        };
        let uri = |v: &Value| {
            v["repositoryUri"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("ECR: no repositoryUri for {name} in {v}"))
        };
        match self.ecr(
            "DescribeRepositories",
            &serde_json::json!({"repositoryNames": [name]}),
        ) {
            Ok(answer) => return uri(&answer["repositories"][0]).map(Some),
            Err(e) if code_is(&e, "RepositoryNotFoundException") => {}
            Err(e) => return Err(e),
        }
        if !create {
            return Ok(None);
        }
        let answer = self.ecr(
            "CreateRepository",
            &serde_json::json!({"repositoryName": name}),
        )?;
        uri(&answer["repository"]).map(Some)
    }

    /// ECR's push credentials: (user, password) from GetAuthorizationToken.
    pub fn ecr_login(&self) -> Result<(String, String)> {
        use base64::Engine as _;
        let answer = self.ecr("GetAuthorizationToken", &serde_json::json!({}))?;
        let token = answer["authorizationData"][0]["authorizationToken"]
            .as_str()
            .ok_or_else(|| anyhow!("ECR GetAuthorizationToken: no token in the answer"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|e| anyhow!("ECR GetAuthorizationToken: the token is not base64: {e}"))?;
        let text = String::from_utf8_lossy(&decoded);
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| anyhow!("ECR GetAuthorizationToken: the token is not USER:PASSWORD"))?;
        Ok((user.to_string(), password.to_string()))
    }

    /// STS GetSessionToken for `seconds`.
    pub fn session_token(&self, seconds: u64) -> Result<SessionCredentials> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "GetSessionToken")
            .append_pair("Version", "2011-06-15")
            .append_pair("DurationSeconds", &seconds.to_string())
            .finish();
        let (status, text) = self.send(
            "sts",
            "sts",
            "/",
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body.as_bytes(),
        )?;
        if !(200..300).contains(&status) {
            bail!(
                "STS GetSessionToken: HTTP {status}: {}",
                xml_text(&text, "Message").unwrap_or(text.trim())
            );
        }
        let field = |name: &str| {
            xml_text(&text, name)
                .map(str::to_string)
                .ok_or_else(|| anyhow!("STS GetSessionToken: the answer has no {name}"))
        };
        Ok(SessionCredentials {
            access_key_id: field("AccessKeyId")?,
            secret_access_key: field("SecretAccessKey")?,
            session_token: field("SessionToken")?,
        })
    }
}

/// An AWS API's refusal: its status, error code and message.
#[derive(Debug)]
pub struct ApiError {
    pub api: &'static str,
    pub operation: String,
    pub status: u16,
    /// `RepositoryAlreadyExistsException`, … (the `__type` without its namespace).
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: HTTP {}: {}{}",
            self.api,
            self.operation,
            self.status,
            if self.code.is_empty() {
                String::new()
            } else {
                format!("{}: ", self.code)
            },
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

fn json_answer(api: &'static str, operation: &str, status: u16, text: &str) -> Result<Value> {
    let value: Option<Value> = serde_json::from_str(text).ok();
    if !(200..300).contains(&status) {
        let field = |k: &str| {
            value
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
        };
        let message = field("message")
            .or_else(|| field("Message"))
            .map_or_else(|| text.trim().to_string(), str::to_string);
        let code = field("__type")
            .map(|t| t.rsplit(['#', ':']).next().unwrap_or(t).to_string())
            .unwrap_or_default();
        return Err(ApiError {
            api,
            operation: operation.to_string(),
            status,
            code,
            message,
        }
        .into());
    }
    value.ok_or_else(|| anyhow!("{api} {operation}: the answer is not JSON: {text:.200}"))
}

/// The text of the first `<name>` element (STS answers are flat enough for this).
fn xml_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + end].trim())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sts_fields() {
        let xml = "<GetSessionTokenResponse><GetSessionTokenResult><Credentials>\
                   <SessionToken>tok</SessionToken><AccessKeyId>AK</AccessKeyId>\
                   </Credentials></GetSessionTokenResult></GetSessionTokenResponse>";
        assert_eq!(super::xml_text(xml, "AccessKeyId"), Some("AK"));
        assert_eq!(super::xml_text(xml, "SessionToken"), Some("tok"));
        assert_eq!(super::xml_text(xml, "Missing"), None);
    }
}
