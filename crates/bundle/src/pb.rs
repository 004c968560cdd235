//! The bundle's protobuf messages (proto3, package `bundle`, as docs/disdat.md §2 lists them),
//! derived with prost so no protoc is needed. Fields are declared in tag order: prost encodes
//! in declaration order, and Python Disdat's writer in tag order, so the bytes are the same.
//!
//! The hash rule (§3): a message's `hash` is the lowercase hex md5 of its encoding with `hash`
//! cleared. A link is sealed before it goes into its frame, the frame after its links.

use md5::{Digest, Md5};
use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct StringTuple {
    #[prost(string, tag = "1")]
    pub k: String,
    #[prost(string, tag = "2")]
    pub v: String,
}

impl StringTuple {
    pub fn new(k: impl Into<String>, v: impl Into<String>) -> Self {
        StringTuple {
            k: k.into(),
            v: v.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Presentation {
    Hf = 0,
    Df = 1,
    Scalar = 3,
    Tensor = 4,
    Row = 5,
    Default = 6,
    Json = 7,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ByteOrder {
    Big = 0,
    Little = 1,
    Na = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Type {
    None = 0,
    Link = 1,
    Float16 = 2,
    Float32 = 3,
    Float64 = 4,
    Uint8 = 5,
    Uint16 = 6,
    Uint32 = 7,
    Uint64 = 8,
    Int8 = 9,
    Int16 = 10,
    Int32 = 11,
    Int64 = 12,
    String = 13,
    Bool = 14,
    Complex64 = 15,
    Complex128 = 16,
    Hframe = 17,
    Object = 18,
}

#[derive(Clone, PartialEq, Message)]
pub struct HyperFrame {
    #[prost(string, tag = "1")]
    pub owner: String,
    #[prost(string, tag = "2")]
    pub human_name: String,
    #[prost(string, tag = "3")]
    pub processing_name: String,
    #[prost(string, tag = "4")]
    pub uuid: String,
    /// Frame name → frame uuid, in order.
    #[prost(message, repeated, tag = "5")]
    pub frames: Vec<StringTuple>,
    #[prost(message, optional, tag = "6")]
    pub lineage: Option<Lineage>,
    /// In order; a key appears once.
    #[prost(message, repeated, tag = "7")]
    pub tags: Vec<StringTuple>,
    #[prost(enumeration = "Presentation", tag = "8")]
    pub presentation: i32,
    #[prost(string, tag = "9")]
    pub hash: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Frame {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub uuid: String,
    #[prost(enumeration = "Type", tag = "3")]
    pub r#type: i32,
    #[prost(uint32, repeated, tag = "4")]
    pub shape: Vec<u32>,
    #[prost(enumeration = "ByteOrder", tag = "5")]
    pub byteorder: i32,
    #[prost(message, repeated, tag = "6")]
    pub hframes: Vec<HyperFrame>,
    #[prost(message, repeated, tag = "7")]
    pub links: Vec<Link>,
    #[prost(string, repeated, tag = "8")]
    pub strings: Vec<String>,
    #[prost(bytes = "vec", tag = "9")]
    pub data: Vec<u8>,
    #[prost(string, tag = "10")]
    pub hash: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Dependency {
    #[prost(string, tag = "1")]
    pub hframe_proc_name: String,
    #[prost(string, tag = "2")]
    pub hframe_uuid: String,
    #[prost(string, tag = "3")]
    pub arg_name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Lineage {
    #[prost(string, tag = "1")]
    pub hframe_proc_name: String,
    #[prost(string, tag = "2")]
    pub hframe_uuid: String,
    #[prost(string, tag = "3")]
    pub code_repo: String,
    #[prost(string, tag = "4")]
    pub code_name: String,
    #[prost(string, tag = "5")]
    pub code_semver: String,
    #[prost(string, tag = "6")]
    pub code_hash: String,
    #[prost(string, tag = "7")]
    pub code_branch: String,
    #[prost(string, tag = "8")]
    pub data_context: String,
    #[prost(string, tag = "9")]
    pub data_branch: String,
    /// Unix seconds.
    #[prost(double, tag = "10")]
    pub creation_date: f64,
    #[prost(message, repeated, tag = "11")]
    pub depends_on: Vec<Dependency>,
    #[prost(double, tag = "12")]
    pub start_time: f64,
    #[prost(double, tag = "13")]
    pub stop_time: f64,
    #[prost(string, tag = "14")]
    pub code_method: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Link {
    #[prost(string, tag = "1")]
    pub uuid: String,
    #[prost(string, tag = "2")]
    pub frame_uuid: String,
    #[prost(string, tag = "3")]
    pub linkauth_uuid: String,
    #[prost(string, tag = "4")]
    pub hash: String,
    #[prost(oneof = "link::Kind", tags = "5, 6, 7")]
    pub link: Option<link::Kind>,
}

pub mod link {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(message, tag = "5")]
        Local(super::LocalLink),
        #[prost(message, tag = "6")]
        S3(super::S3Link),
        #[prost(message, tag = "7")]
        Database(super::DatabaseLink),
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct LocalLink {
    #[prost(string, tag = "1")]
    pub path: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct S3Link {
    #[prost(string, tag = "1")]
    pub url: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct DatabaseLink {
    #[prost(string, tag = "1")]
    pub url: String,
    #[prost(string, tag = "2")]
    pub database: String,
    #[prost(string, tag = "3")]
    pub servername: String,
    #[prost(string, tag = "4")]
    pub schema: String,
    #[prost(string, tag = "5")]
    pub table: String,
    #[prost(string, repeated, tag = "6")]
    pub columns: Vec<String>,
    #[prost(string, tag = "7")]
    pub dsn: String,
    #[prost(int32, tag = "8")]
    pub port: i32,
}

impl Link {
    /// Where the link points: a local path (`bundle://…` or `file://…`) or an S3 URL.
    pub fn target(&self) -> Option<&str> {
        match &self.link {
            Some(link::Kind::Local(l)) => Some(&l.path),
            Some(link::Kind::S3(s)) => Some(&s.url),
            Some(link::Kind::Database(d)) => Some(&d.url),
            None => None,
        }
    }
}

/// A message with a `hash` field computed over the rest of it.
pub trait Sealed: Message + Clone {
    fn hash_field(&mut self) -> &mut String;

    /// md5 hex of the encoding with `hash` empty.
    fn compute_hash(&self) -> String {
        let mut bare = self.clone();
        bare.hash_field().clear();
        let digest = Md5::digest(bare.encode_to_vec());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Sets `hash` by the rule.
    fn seal(&mut self) {
        let h = self.compute_hash();
        *self.hash_field() = h;
    }

    /// Whether `hash` matches the rule.
    fn hash_ok(&self) -> bool {
        let mut copy = self.clone();
        let stored = std::mem::take(copy.hash_field());
        stored == self.compute_hash()
    }
}

impl Sealed for HyperFrame {
    fn hash_field(&mut self) -> &mut String {
        &mut self.hash
    }
}

impl Sealed for Frame {
    fn hash_field(&mut self) -> &mut String {
        &mut self.hash
    }
}

impl Sealed for Link {
    fn hash_field(&mut self) -> &mut String {
        &mut self.hash
    }
}

impl HyperFrame {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|t| t.k == key).map(|t| t.v.as_str())
    }

    /// Sets tag `key` (in place when present, else appended), as Python's tag dict does.
    pub fn set_tag(&mut self, key: &str, value: &str) {
        match self.tags.iter_mut().find(|t| t.k == key) {
            Some(t) => t.v = value.to_string(),
            None => self.tags.push(StringTuple::new(key, value)),
        }
    }

    pub fn committed(&self) -> bool {
        self.tag("committed") == Some("True")
    }

    pub fn creation_date(&self) -> f64 {
        self.lineage.as_ref().map_or(0.0, |l| l.creation_date)
    }
}
