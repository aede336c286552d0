#!/usr/bin/env bash
# Fetches the three FAQs of the faq-matching example from Debian's archive, without installing
# anything: `apt-get download` (works as a non-root user) + `dpkg -x` into a cache folder outside
# git. Idempotent: when the three sources are already unpacked it does nothing.
#   scripts/fetch_faq_data.sh [DIR]
# DIR defaults to $OVERDRIVE_DATA_DIR, else ~/.cache/overdrive/faq. Prints DIR on success.
set -euo pipefail

dir="${1:-${OVERDRIVE_DATA_DIR:-$HOME/.cache/overdrive/faq}}"
pkgs=(perl-doc python3.11-doc debian-faq)

have_all() {
  compgen -G "$dir/root/usr/share/perl/*/pod/perlfaq4.pod" >/dev/null &&
    compgen -G "$dir/root/usr/share/doc/python3.11/html/_sources/faq/*.rst.txt" >/dev/null &&
    [[ -f "$dir/root/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz" ]]
}

if have_all; then
  echo "$dir"
  exit 0
fi

for tool in apt-get dpkg; do
  command -v "$tool" >/dev/null || { echo "fetch_faq_data: '$tool' not found (a Debian system is needed)" >&2; exit 1; }
done

mkdir -p "$dir/debs" "$dir/root"
cd "$dir/debs"
# A package whose .deb is already here is not downloaded again.
for p in "${pkgs[@]}"; do
  if ! compgen -G "${p}_*.deb" >/dev/null; then
    # As root, apt warns that the download runs unsandboxed: harmless, so stderr is shown
    # only when the download fails.
    if ! err=$(apt-get download -q "$p" 2>&1 >/dev/null); then
      echo "$err" >&2
      echo "fetch_faq_data: 'apt-get download $p' failed; run 'apt-get update' (as root) and retry" >&2
      exit 1
    fi
  fi
done
for deb in ./*.deb; do
  dpkg -x "$deb" "$dir/root"
done

if ! have_all; then
  echo "fetch_faq_data: the packages unpacked, but the FAQ files are not where expected under $dir/root" >&2
  exit 1
fi
echo "$dir"
