//! `compress`: gzips an uploaded file, on a blocking thread (it is CPU-bound), with
//! progress by bytes. The result downloads as `<name>.gz`.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Duration;

use app::event::Unit;
use app::kind::{Input, ParamField, Upload, format_bytes};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;

use crate::jobs::kind::JobKind;
use crate::jobs::{JobContext, JobError, Outcome};

pub(super) struct Compress;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CompressParams {
    file: Upload,
    /// 1 (fastest) to 9 (smallest); 6 when absent.
    #[serde(default)]
    level: Option<u32>,
}

/// Bytes read between two progress reports (and cancellation checks).
const CHUNK: usize = 1024 * 1024;

impl JobKind for Compress {
    const NAME: &'static str = "compress";
    const LABEL: &'static str = "Compress a file";
    const DESCRIPTION: &'static str =
        "Compresses an uploaded file with gzip; download the .gz when it is done.";

    type Params = CompressParams;

    const TIME_LIMIT: Option<Duration> = Some(Duration::from_secs(30 * 60));

    /// It writes only its own result file, published when complete.
    const SAFE_TO_RERUN: bool = true;

    fn params() -> Vec<ParamField> {
        vec![
            ParamField {
                name: "file".into(),
                label: "File".into(),
                hint: Some("any file".into()),
                required: true,
                input: Input::File {
                    extensions: Vec::new(),
                    content_types: Vec::new(),
                    max_bytes: 0,
                },
            },
            ParamField {
                name: "level".into(),
                label: "Compression level".into(),
                hint: Some("1 (fastest) to 9 (smallest)".into()),
                required: false,
                input: Input::Integer {
                    min: 1,
                    max: 9,
                    default: Some(6),
                },
            },
        ]
    }

    fn title(params: &CompressParams) -> String {
        format!(
            "Compress {} ({})",
            params.file.name,
            format_bytes(params.file.bytes)
        )
    }

    async fn run(ctx: JobContext, params: CompressParams) -> Result<Outcome, JobError> {
        let artifact = ctx
            .artifact(&format!("{}.gz", safe_name(&params.file.name)))
            .await?;
        let source = ctx.upload_path(&params.file);
        let target = artifact.partial_path().to_owned();
        let level = Compression::new(params.level.unwrap_or(6));
        let total = params.file.bytes;
        let worker = ctx.clone();
        tokio::task::spawn_blocking(move || gzip(&worker, &source, &target, level, total))
            .await
            .map_err(|e| JobError::failed(format!("compression stopped unexpectedly: {e}")))??;
        artifact.commit().await
    }
}

fn gzip(
    ctx: &JobContext,
    source: &Path,
    target: &Path,
    level: Compression,
    total: u64,
) -> Result<(), JobError> {
    let input = std::fs::File::open(source)
        .map_err(|e| JobError::io("could not open the uploaded file", e))?;
    let output = std::fs::File::create(target)
        .map_err(|e| JobError::io("could not create the result file", e))?;
    let mut input = BufReader::new(input);
    let mut encoder = GzEncoder::new(BufWriter::with_capacity(256 * 1024, output), level);
    let mut buffer = vec![0; CHUNK];
    let mut done = 0u64;
    let total_text = format_bytes(total);
    ctx.log(format!("Compressing {total_text} with gzip (level {})", level.level()));
    let step = format!("Compressing {total_text}");
    loop {
        ctx.check_cancelled()?;
        let n = input
            .read(&mut buffer)
            .map_err(|e| JobError::io("could not read the uploaded file", e))?;
        if n == 0 {
            break;
        }
        encoder
            .write_all(&buffer[..n])
            .map_err(|e| JobError::io("could not write the result file", e))?;
        done += n as u64;
        let percent = u8::try_from(done * 100 / total.max(1))
            .unwrap_or(100)
            .min(99);
        ctx.processed(done, Unit::Bytes);
        ctx.progress(percent, &step);
    }
    let output = encoder
        .finish()
        .map_err(|e| JobError::io("could not write the result file", e))?;
    let output = output
        .into_inner()
        .map_err(|e| JobError::io("could not write the result file", e.into_error()))?;
    output
        .sync_all()
        .map_err(|e| JobError::io("could not save the result file", e))?;
    let written = output.metadata().map(|m| m.len()).unwrap_or_default();
    let step = format!("Compressed {total_text} to {}", format_bytes(written));
    ctx.log(format!(
        "{step} ({} % of the original)",
        written * 100 / total.max(1)
    ));
    ctx.progress(100, &step);
    Ok(())
}

/// The upload's name as a download name: letters, digits, `.`, `-` and `_` only.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned.to_owned()
    }
}
