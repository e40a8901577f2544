// fmt's implementation, compiled once here for every target. With
// FMT_HEADER_ONLY, each file that formats anything compiled it again, which
// was most of the build's time. Debian ships fmt only as a shared library,
// and brood-vmm links statically, so the implementation is built here.
#include <fmt/format-inl.h>

#include <locale>

// The templates fmt's headers declare and leave to its library.
FMT_BEGIN_NAMESPACE
namespace detail {
template auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template locale_ref::locale_ref(const std::locale& loc);
template auto locale_ref::get<std::locale>() const -> std::locale;
template auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template auto thousands_sep_impl<wchar_t>(locale_ref) -> thousands_sep_result<wchar_t>;
template auto decimal_point_impl(locale_ref) -> char;
template auto decimal_point_impl(locale_ref) -> wchar_t;
} // namespace detail
FMT_END_NAMESPACE
