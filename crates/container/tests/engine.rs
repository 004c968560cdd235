//! The Engine API client against the real Docker engine (`make test` starts one): a root file
//! system imported through the API, a container created, attached, started, listed by label,
//! exec'd into, waited for and removed. Names carry the `paasta-test` prefix.

use container::engine::{Engine, LogOutput};
use container::spec::{build, SpecOptions};
use futures_util::StreamExt;
use std::time::Duration;

fn rootfs() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_path_with_name("/bin/busybox", "bin/busybox")
        .expect("busybox-static is installed (bin/ensure-docker.sh)");
    for applet in ["sh", "echo", "sleep", "test"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn import_create_attach_start_wait_list_exec_remove() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let engine = Engine::connect(Duration::from_secs(2))
            .await
            .expect("a Docker engine answers (make test starts one)");
        let image = "paasta-test/engine-check:latest";
        engine.import_rootfs(rootfs(), image).await.unwrap();
        assert!(engine.image_exists(image).await.unwrap());
        assert!(!engine
            .image_exists("paasta-test/never-built:latest")
            .await
            .unwrap());

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("svc")).unwrap();
        std::fs::write(dir.path().join("svc/service.yaml"), "git_url: /x\n").unwrap();
        std::fs::write(
            dir.path().join("svc/adhoc-c.yaml"),
            "main:\n  mem: 64\n  env: {WHO: engine-test}\n",
        )
        .unwrap();
        let service = soa::Service::load(dir.path(), "svc").unwrap();
        let config = service.instance_config(&service.files[0], "main").unwrap();
        let name = format!("paasta-test-engine-{}", std::process::id());
        let command = vec![
            "sh".into(),
            "-c".into(),
            "echo out $WHO; echo err >&2; sleep 1; exit 3".into(),
        ];
        let (spec, _) = build(
            &config,
            SpecOptions {
                name: name.clone(),
                image: image.into(),
                command,
                ..Default::default()
            },
        )
        .unwrap();

        let id = engine.create(&spec).await.unwrap();
        let attached = engine.attach(&id, false).await.unwrap();
        engine.start(&id).await.unwrap();
        let listed = engine
            .list(&[("paasta_service", "svc"), ("paasta_instance", "main")])
            .await
            .unwrap();
        assert!(listed.iter().any(|c| c.id.as_deref() == Some(id.as_str())));
        assert_eq!(
            engine
                .exec(&id, vec!["test".into(), "-e".into(), "/bin/sh".into()])
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            engine
                .exec(&id, vec!["test".into(), "-e".into(), "/nope".into()])
                .await
                .unwrap(),
            1
        );
        let (mut out, mut err) = (String::new(), String::new());
        let mut output = attached.output;
        while let Some(item) = output.next().await {
            match item.unwrap() {
                LogOutput::StdOut { message } => out.push_str(&String::from_utf8_lossy(&message)),
                LogOutput::StdErr { message } => err.push_str(&String::from_utf8_lossy(&message)),
                _ => {}
            }
        }
        assert_eq!(engine.wait(&id).await.unwrap(), 3);
        assert_eq!((out.as_str(), err.as_str()), ("out engine-test\n", "err\n"));
        let inspected = engine.inspect(&id).await.unwrap();
        assert_eq!(
            inspected.host_config.unwrap().memory,
            Some(64 * 1024 * 1024)
        );
        engine.remove(&id).await.unwrap();
        assert!(engine
            .list(&[("paasta_service", "svc")])
            .await
            .unwrap()
            .iter()
            .all(|c| c.id.as_deref() != Some(id.as_str())));
        // A missing image is named as such by create.
        let missing = container::ContainerSpec {
            image: "paasta-test/never-built:latest".into(),
            name: format!("{name}-x"),
            ..spec.clone()
        };
        let e = engine.create(&missing).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("paasta-test/never-built:latest is not on this machine"),
            "{e}"
        );
        engine
            .docker()
            .remove_image(
                image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
            .unwrap();
    });
}
